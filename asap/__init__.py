"""ASAP: anchor-guided, surprisal-based pruning of code reasoning chains (reproduction).

The subpackages follow the pipeline of the README: `data` (records, benchmarks), `model` (the
base model), `teacher` (anchor and coarse pruning), `scoring` (log-probabilities), `pruning`
(first-token surprisal), `compression` (baselines and ablations), `train` (SFT), `eval`
(generation, sandbox, graders), `report` (tables, tests, figures) and `repro` (params, IO,
hashes, provenance, caches). `methods` is the method registry, `matching` the ordered match of
the coarse stage, `cli` and `commands` the console script.
"""

__version__ = "0.1.0"
