"""Host-side TF1 modules that build no graph: `compat` (string helpers). Exported from
`compiler` as `fc.compat.as_str` and friends."""
