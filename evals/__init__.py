"""Evals for hex-mcp: questions an agent is asked, the tool calls that answer them, the facts they must show.

`python -m evals` replays `evals/cases.jsonl` against the installed `hex-mcp` over stdio, with the fake
upstream serving both API shapes (see `evals/fixtures/README.md`), and grades every case on facts, `isError`,
and its o200k token budget. `--live` runs the same cases against hex.pm; `--model PROVIDER:MODEL` lets an LLM
choose the calls and grades its final answer. The runner lives in `evals.runner`, the model loop in
`evals.model_loop`.
"""
