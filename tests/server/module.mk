# tests/server: tb-inferd over loopback on the simulated box (serve.sh), its
# systemd unit and notifications (unit.sh)
TESTS += tests/server/serve.sh tests/server/unit.sh
