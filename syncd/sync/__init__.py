"""One cycle: pull → resolve → compute → plan → guard → push."""
