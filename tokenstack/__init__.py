"""The token stack program: stack config schema and wiring of EnvironmentToken resources."""
