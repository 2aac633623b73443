"""flowc's IR: dtypes, dims and TensorType, the user graph, the compiler IR and its text
form."""
