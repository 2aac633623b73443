"""flowc's IR: dtypes, dims and TensorType, the compiler IR and its text
form."""
