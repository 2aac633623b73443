"""Host-side TF1 modules that build no graph, exported from `compiler`:
`compat` (string helpers: `fc.compat.as_str`, ...), `flags` (`fc.flags`, `fc.app.flags`),
`app` (`fc.app.run`), `gfile` (`fc.gfile`, local files) and `tf_logging` (`fc.logging`).
See docs/tf1_api.md."""
