"""The token stack: one GoRules environment access token per entry of
`gorules-tokens:environments` (see README)."""

from tokenstack.program import run

run()
