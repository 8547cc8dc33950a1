"""A contract suite a user runs against their own GoRules BRMS before trusting the provider.

The provider rests on facts GoRules documents only in part (see ``localbrms/README.md``,
"Faithful vs. inferred"). These checks ask a real BRMS the questions the provider's behaviour
depends on and say, for each answer, what it means for the provider. Run it with
``./scripts/contract.sh`` (variables and flags: ``README.md``, "Contract suite").
"""
