"""What the ``syncd`` command shows its operator: the plan as a diff, a reviewed plan kept in a
file, and progress as a cycle goes. The command bodies in :mod:`syncd.cli` call these."""
