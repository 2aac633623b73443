"""Graph -> graph transformations of the compiler IR and the kernel plan."""
