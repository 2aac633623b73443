"""The TF1-style frontend: functions that add ops to the default graph."""
