# The part of nixpkgs' qemu-vm.nix the harness reads, and a system that boots
# the way a NixOS VM does: direct kernel boot, a stage 1 that mounts the disk
# labelled nixos and the 9p shares (the store as an overlay over /nix/.ro-store),
# and a stage 2 from the store that applies the configuration (/etc, hostname,
# link names, addresses), starts the OpenSSH stand-in (dropbear), installs every
# systemd service as a unit of the systemd stand-in (the fixture guest's
# supervisor: /etc/phc/units/NAME/{run,env,type}) and starts those wanted by
# multi-user.target in systemd's order (after, before). Built from the guest tools.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkForce types concatStringsSep mapAttrsToList escapeShellArg;
  tools = pkgs.guestTools;
  vc = config.virtualisation;
  hostName = config.networking.hostName;

  stage1 = pkgs.writeText "stage-1-init" ''
    #!/bin/sh
    export PATH=/bin
    /bin/busybox --install -s /bin
    mkdir -p /proc /sys /dev /mnt-root
    mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
    echo "<<< NixOS stand-in Stage 1 >>>"
    for m in $(cat /modules/order); do insmod "/modules/$m" 2>/dev/null; done
    fail() { echo "stage 1: $*"; sleep 2; poweroff -f; }
    init=
    for arg in $(cat /proc/cmdline); do case "$arg" in init=*) init="''${arg#init=}" ;; esac; done
    [ -n "$init" ] || fail "no init= on the kernel command line"
    # fileSystems."/": the disk labelled nixos, formatted before boot.
    i=0
    until root="$(findfs LABEL=nixos 2>/dev/null)"; do
      i=$((i + 1)); [ $i -gt 100 ] && fail "no disk labelled nixos (a blank disk does not boot)"; sleep 0.1
    done
    mount -t ext4 "$root" /mnt-root || fail "cannot mount $root"
    ${concatStringsSep "\n" (mapAttrsToList (tag: s: ''
      mkdir -p "/mnt-root${s.target}"
      mount -t 9p -o trans=virtio,version=9p2000.L,msize=${toString vc.msize},cache=loose ${escapeShellArg tag} "/mnt-root${s.target}" \
        || fail "cannot mount the 9p share ${tag} on ${s.target}"'') vc.sharedDirectories)}
    # writableStore: a tmpfs upper layer over the host's store.
    mkdir -p /mnt-root/nix/.rw-store /mnt-root/nix/store
    mount -t tmpfs -o mode=0755 tmpfs /mnt-root/nix/.rw-store
    mkdir -p /mnt-root/nix/.rw-store/store /mnt-root/nix/.rw-store/work
    mount -t overlay overlay -o lowerdir=/mnt-root/nix/.ro-store,upperdir=/mnt-root/nix/.rw-store/store,workdir=/mnt-root/nix/.rw-store/work /mnt-root/nix/store \
      || fail "cannot mount the store overlay"
    # $init is a link into the store: follow it inside the new root.
    target="$(readlink "/mnt-root$init" || echo "$init")"
    [ -e "/mnt-root$target" ] || fail "$init is not in the shared store"
    umount /proc /sys /dev
    exec switch_root /mnt-root "$init"
  '';

  initrd = pkgs.runCommand "initrd-${hostName}" { } ''
    mkdir -p root/bin root/modules
    cp ${tools}/busybox root/bin/busybox; ln -s busybox root/bin/sh
    cp ${tools}/modules/* root/modules/
    cp ${stage1} root/init; chmod 755 root/init
    cd root && find . | cpio -o -H newc -R 0:0 | gzip -9 > $out
  '';

  services = lib.filterAttrs (_: s: s.enable && s.script != "") config.systemd.services;
  unitFiles = name: s: {
    run = pkgs.writeText "unit-${name}-run" (s.preStart + "\n" + s.script);
    env = pkgs.writeText "unit-${name}-env" (concatStringsSep "\n" (
      [ "PATH=${escapeShellArg (concatStringsSep ":" (map (p: "${p}/bin") s.path ++ [ "/usr/local/bin" "${tools}/bin" ]))}" ]
      ++ mapAttrsToList (k: v: "${k}=${escapeShellArg (toString v)}") (lib.filterAttrs (_: v: v != null) s.environment)) + "\n");
    type = s.serviceConfig.Type or "simple";
  };
  # multi-user.target's units in start order.
  bootUnits = let
    wanted = builtins.filter (n: builtins.elem "multi-user.target" services.${n}.wantedBy) (builtins.attrNames services);
    unitName = a: let l = builtins.stringLength a; in
      if l > 8 && builtins.substring (l - 8) 8 a == ".service" then builtins.substring 0 (l - 8) a else a;
    # After what its `after` names and what names it in `before`, as systemd orders them.
    deps = n: builtins.filter (d: builtins.elem d wanted)
      (map unitName services.${n}.after ++ builtins.filter (m: builtins.elem n (map unitName services.${m}.before)) wanted);
    go = done: rest: if rest == [ ] then done else
      let ready = builtins.filter (n: builtins.all (d: builtins.elem d done) (deps n)) rest;
          next = if ready == [ ] then rest else ready;   # a cycle: start the rest as they come
      in go (done ++ next) (builtins.filter (n: !(builtins.elem n next)) rest);
    in go [ ] wanted;
  imap0 = f: list: builtins.genList (n: f n (builtins.elemAt list n)) (builtins.length list);
  links = builtins.filter (l: l.matchConfig ? MACAddress && l.linkConfig ? Name) (builtins.attrValues config.systemd.network.links);
  etcFiles = lib.filterAttrs (_: e: e.text != null || e.source != null) config.environment.etc;

  stage2 = pkgs.writeShellScript "init" ''
    export PATH=${tools}/bin
    mkdir -p /proc /sys /dev /run /etc /root /var/log/units /usr /lib
    mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
    mkdir -p /dev/pts; mount -t devpts devpts /dev/pts; mount -t tmpfs tmpfs /run
    echo "<<< NixOS stand-in Stage 2 >>>"
    # Activation: the userland, /etc, the host name.
    ln -sfn ${tools}/bin /bin; ln -sfn ${tools}/bin /usr/bin; ln -sfn ${tools}/bin /sbin
    ln -sfn ${tools}/lib64 /lib64; ln -sfn ${tools}/lib /lib/x86_64-linux-gnu
    mkdir -p /usr/lib; ln -sfn ${tools}/lib/phc /usr/lib/phc; ln -sfn ${tools}/etc/ssl /usr/lib/ssl; ln -sfn ${tools}/etc/ssl /etc/ssl
    echo 'root:x:0:0:root:/root:${tools}/bin/sh' > /etc/passwd
    echo 'root:*:19000:0:99999:7:::' > /etc/shadow; chmod 600 /etc/shadow
    echo 'root:x:0:' > /etc/group
    echo '${tools}/bin/sh' > /etc/shells
    echo ${escapeShellArg hostName} > /etc/hostname; hostname ${escapeShellArg hostName}
    printf '127.0.0.1 localhost\n127.0.0.2 %s\n%s\n' ${escapeShellArg hostName} ${escapeShellArg config.networking.extraHosts} > /etc/hosts
    ${concatStringsSep "\n" (mapAttrsToList (name: e: ''
      mkdir -p "$(dirname /etc/${name})"
      cp ${if e.text != null then pkgs.writeText "etc-${baseNameOf name}" e.text else e.source} /etc/${name}'') etcFiles)}

    # Links named by MAC (systemd.network.links), through temporary names so that
    # two NICs can swap the kernel's names, as udev does; then the interfaces.
    ip link set lo up
    ${concatStringsSep "\n" (imap0 (n: l: ''
      for dev in /sys/class/net/*; do
        [ "$(cat "$dev/address")" = ${escapeShellArg l.matchConfig.MACAddress} ] && ip link set "''${dev##*/}" name phclink${toString n}
      done'') links)}
    ${concatStringsSep "\n" (imap0 (n: l: "ip link set phclink${toString n} name ${escapeShellArg l.linkConfig.Name} 2>/dev/null") links)}
    ${concatStringsSep "\n" (mapAttrsToList (name: i: ''
      ${lib.optionalString (i.macAddress != null) "ip link set ${name} address ${i.macAddress}"}
      ${concatStringsSep "\n" (map (a: "ip addr add ${a.address}/${toString a.prefixLength} dev ${name}") i.ipv4.addresses)}
      ip link set ${name} up || echo "stage 2: no interface ${name}"'') config.networking.interfaces)}

    ${lib.optionalString config.services.openssh.enable ''
      # OpenSSH stand-in: dropbear, with sshd's host key path and root's keys.
      mkdir -p /etc/ssh /root/.ssh; chmod 700 /root/.ssh
      printf '%s\n' ${lib.escapeShellArgs (config.users.users.root or { openssh.authorizedKeys.keys = [ ]; }).openssh.authorizedKeys.keys} > /root/.ssh/authorized_keys
      chmod 600 /root/.ssh/authorized_keys
      [ -f /etc/ssh/ssh_host_ed25519_key ] || ${tools}/sbin/dropbearkey -t ed25519 -f /etc/ssh/ssh_host_ed25519_key >/dev/null 2>&1
      ${tools}/sbin/dropbearkey -y -f /etc/ssh/ssh_host_ed25519_key | grep '^ssh-ed25519' > /etc/ssh/ssh_host_ed25519_key.pub
      ${tools}/sbin/dropbear -s -r /etc/ssh/ssh_host_ed25519_key -p 22
    ''}
    rm -rf /etc/phc/units /run/phc; mkdir -p /etc/phc/units /usr/local/bin
    ${concatStringsSep "\n" (mapAttrsToList (name: s: let u = unitFiles name s; in ''
      mkdir -p /etc/phc/units/${name}
      cp ${u.run} /etc/phc/units/${name}/run; cp ${u.env} /etc/phc/units/${name}/env; echo ${u.type} > /etc/phc/units/${name}/type'') services)}
    # multi-user.target, in the background: a oneshot may take its time.
    ( for u in ${toString bootUnits}; do systemctl start "$u"; done; echo "stage 2: multi-user.target reached" ) > /var/log/units.boot.log 2>&1 &
    echo "stage 2: ${toString (builtins.length bootUnits)} units for multi-user.target"
    printf '::sysinit:/bin/true\n::ctrlaltdel:/sbin/reboot\n' > /etc/inittab
    exec ${tools}/bin/init
  '';

  toplevel = pkgs.runCommand "nixos-system-${hostName}" { } ''
    mkdir -p $out
    ln -s ${tools}/kernel $out/kernel
    ln -s ${initrd} $out/initrd
    ln -s ${stage2} $out/init
    echo ${escapeShellArg (toString config.boot.kernelParams)} > $out/kernel-params
  '';
in
{
  options.virtualisation = {
    directBoot.initrd = mkOption { type = types.str; default = "${config.system.build.toplevel}/initrd"; };
    diskImage = mkOption { type = types.nullOr types.str; default = "./${hostName}.qcow2"; };
    msize = mkOption { type = types.ints.positive; default = 16384; };
    sharedDirectories = mkOption {
      default = { };
      type = types.attrsOf (types.submodule {
        options.source = mkOption { type = types.str; };
        options.target = mkOption { type = types.str; };
        options.securityModel = mkOption { type = types.str; default = "none"; };
      });
    };
  };
  config = {
    virtualisation.sharedDirectories = {
      nix-store = { source = "/nix/store"; target = "/nix/.ro-store"; };
      xchg = { source = "$TMPDIR/xchg"; target = "/tmp/xchg"; };
      shared = { source = "\${SHARED_DIR:-$TMPDIR/xchg}"; target = "/tmp/shared"; };
    };
    boot.kernelParams = [ "console=ttyS0,115200n8" ];
    system.build.toplevel = mkForce toplevel;
    # As build-vm.nix: the run script, which needs the system built.
    system.build.vm = pkgs.writeShellScript "run-${hostName}-vm" ''
      echo "boot ${toplevel} with kernel ${toplevel}/kernel and initrd ${initrd}; the harness does this through libvirt"
    '';
  };
}
