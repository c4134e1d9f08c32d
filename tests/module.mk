# Cross-component tests that live directly in tests/.
TESTS += tests/frontend.sh tests/runner.sh
