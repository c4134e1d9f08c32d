# tests/packaging: the Debian packages made from the test tree and lintian
# (debs.sh), make install's layout, run on the box, and the bash completion
# (layout.sh)
TESTS += tests/packaging/debs.sh tests/packaging/layout.sh
