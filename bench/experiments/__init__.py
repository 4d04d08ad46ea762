"""Experiments besides the cold-start matrix: how long idle environments stay warm
(keepalive) and what warm-up pings buy (warmup). `bench.run` dispatches on the matrix's
`experiment`; each experiment is a `bench.run.Experiment` with its own measuring."""
