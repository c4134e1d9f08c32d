# tests/setup: tb setup's framework and each of its steps, on fixture roots
# and the simulated box (one TESTS line per step's tests)
TESTS += tests/setup/framework.sh
TESTS += tests/setup/power.sh tests/setup/fans.sh
TESTS += tests/setup/services.sh
TESTS += tests/setup/resume.sh
