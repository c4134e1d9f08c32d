# tests/diag: tb diag on the simulated box
TESTS += tests/diag/diag.sh
