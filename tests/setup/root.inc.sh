# A target root for tb setup's tests, as an image with the stack installed
# has it: the daemons' programs where their units' ExecStart= names them
# (links to the build), Debian's sshd_config (sshd_config.d included first)
# and a machine id.  Source after tap.sh; make_root DIR.
make_root() {
  mkdir -p "$1/usr/local/bin" "$1/etc/ssh" "$1/etc/tb" || return 1
  for p in tb-fand tb-stored tb-inferd; do
    ln -sf "$(cd "$TB_BUILD/bin" && pwd)/$p" "$1/usr/local/bin/$p" || return 1
  done
  printf 'Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\nSubsystem sftp /usr/lib/openssh/sftp-server\n' \
    >"$1/etc/ssh/sshd_config"
  echo 0123456789abcdef0123456789abcdef >"$1/etc/machine-id"
}
