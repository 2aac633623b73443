"""The one list of ONNX backend node cases the conformance suite leaves out, each with its
reason: {regex searched in the case name: why}. tests/onnx_conformance.py reads it; the
count of the rest that pass is printed at the end of every test run."""

EXCLUDED = {
    # -- cases that cannot run anywhere here ------------------------------------------
    # -- element types flowc does not compute with ------------------------------------
    r"(?i)bfloat16": "bfloat16 tensors: flowc has no bfloat16",
    r"(?i)float8|e4m3|e5m2|e8m0": "float8 tensors (e4m3/e5m2/e8m0): flowc has no float8 types",
    r"(?i)float4e2m1": "float4e2m1 tensors: flowc has no 4-bit float type",
    r"(?i)(^|_)u?int[24](_|$)": "int4/uint4/int2/uint2 tensors: flowc has no sub-byte ints",
    r"^test_equal_string": "string tensors: flowc computes with numbers and bools only",
    # -- elementwise ops ---------------------------------------------------------------
    r"^test_not_[234]d$": "the model declares opset 1; flowc imports opsets 7 and later",
    r"^test_bernoulli": "random draws: the expected values come from numpy's generator, "
                        "which flowc's Philox streams cannot reproduce",
    r"^test_bitcast_(2d_|scalar_)?(float(32|64)_to_int|int(32|64)_to_float)": "BitCast "
                        "between floats and ints: flowc has no bit-reinterpretation primitive",
    r"^test_training_dropout(_default)?(_mask)?$": "Dropout in training mode with ratio > 0 "
                        "drops values at random (numpy's generator in the expected values)",
    # -- movement ops ------------------------------------------------------------------
    # -- nn ops ------------------------------------------------------------------------
    # -- reductions --------------------------------------------------------------------
    # -- recurrent and control flow ----------------------------------------------------
}
