//! The host side: an image goes through the steps the classic Dom0 guest
//! manager performs (see `xenguest-format.md`, "Who reads an image"), run
//! by bash the way the manager runs them, not by our code.

use crate::support::Scratch;

/// A bash rendition of the guest manager's start sequence: extract the
/// configuration, name the guest and its disk, source the config files,
/// stream partition contents out of the image, source the init scripts in
/// subshells (refusing non-executable ones), and merge the xl config.
pub(crate) const MANAGER: &str = r#"
set -euo pipefail
tool=$1 img=$(realpath "$2") guestname=$3
guestdir=$PWD/guests/$guestname
guestcfgfile=$guestdir/final.cfg
mkdir -p "$guestdir"
"$tool" extract-config "$img" "$guestdir"
"$tool" update "$guestdir" "--xen-name=$guestname"
"$tool" update "$guestdir" "--xen-disk=/dev/vg-xen/$guestname"
(
    cd "$guestdir"
    . ./disk.cfg
    . ./params.cfg
    echo "DISK_SIZE=$DISK_SIZE"
    echo "GUEST_AUTOBOOT=$GUEST_AUTOBOOT"
    echo "XENGUEST_NETWORK_TYPE=${XENGUEST_NETWORK_TYPE:-}"
    for n in 1 2 3 4; do
        var=DISK_PART$n
        [ -n "${!var:-}" ] || continue
        IFS=: read -r size fs content <<<"${!var}"
        echo "PART$n=$size/$fs/$content"
        case $content in
            *.tar.gz) "$tool" extract-disk-file "$img" "$content" | tar -tzf - | sort > "$PWD/../../part$n.list" ;;
            *.img) "$tool" extract-disk-file "$img" "$content" | dd of="$PWD/../../part$n.img" status=none ;;
        esac
    done
) > vars
cat "$guestdir/guest.cfg" "$guestdir"/guest.d/* > "$guestcfgfile"
for stage in init.pre init.d init.post; do
    [ -d "$guestdir/$stage" ] || continue
    for script in "$guestdir/$stage"/*; do
        [ -x "$script" ] || { echo "not executable: $script" >&2; exit 1; }
        ( cd "$guestdir" && . ./params.cfg && . "$script" )
    done
done
"#;

#[test]
fn the_guest_manager_start_sequence_works_on_our_images() {
    let s = Scratch::new();
    s.write("Image", b"fake kernel");
    s.write(
        "pre.sh",
        "#!/bin/sh\necho \"pre $guestname $XENGUEST_NETWORK_TYPE\" >> \"$guestdir/../../ran\"\n",
    );
    s.write(
        "post.sh",
        "#!/bin/sh\necho \"post $guestname\" >> \"$guestdir/../../ran\"\n",
    );
    s.write("rootfs/etc/hostname", b"guest\n");
    s.write("rootfs/bin/sh", b"");
    let tar = s.ext("tar", &["-C", "rootfs", "-czf", "rootfs.tar.gz", "."]);
    assert!(tar.status.success());
    s.write("swap.img", vec![0u8; 4096]);
    s.run(&[
        "create",
        "demo.xenguest",
        "--xen-kernel=Image",
        "--xen-memory=384",
        "--init-pre=pre.sh",
        "--init-post=post.sh",
        "--set-param=XENGUEST_NETWORK_TYPE=nat",
        "--disk-size=2G",
        "--disk-add-file=rootfs.tar.gz",
        "--disk-add-file=swap.img",
        "--disk-add-part=1:1G:ext4:rootfs.tar.gz",
        "--disk-add-part=2:500M:swap:swap.img",
    ])
    .success();
    s.write("manager.sh", MANAGER);
    let tool = crate::support::bin();
    let out = s.ext("bash", &["manager.sh", tool.to_str().unwrap(), "demo.xenguest", "demo"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "manager failed:\n{stderr}");
    // The manager's steps are routine: nothing to warn about (the disk
    // files are left in the image by extract-config on purpose).
    assert_eq!(stderr, "", "unexpected messages");

    let vars = s.read_text("vars");
    for want in [
        "DISK_SIZE=2000M",
        "GUEST_AUTOBOOT=1",
        "XENGUEST_NETWORK_TYPE=nat",
        "PART1=1G/ext4/rootfs.tar.gz",
        "PART2=500M/swap/swap.img",
    ] {
        assert!(vars.lines().any(|l| l == want), "{want} missing from\n{vars}");
    }
    let listing = s.read_text("part1.list");
    assert!(listing.contains("./etc/hostname"), "{listing}");
    assert_eq!(s.read("part2.img"), vec![0u8; 4096]);

    let cfg = crate::support::xl_settings(&s.read_text("guests/demo/final.cfg"));
    assert_eq!(cfg.get("name").map(String::as_str), Some("\"demo\""));
    assert_eq!(
        cfg.get("disk").map(String::as_str),
        Some("['phy:/dev/vg-xen/demo,xvda,w']")
    );
    assert_eq!(cfg.get("kernel").map(String::as_str), Some("\"files/kernel\""));
    assert_eq!(cfg.get("memory").map(String::as_str), Some("384"));
    assert_eq!(s.read("guests/demo/files/kernel"), b"fake kernel");
    // extract-config leaves the disk files in the image.
    assert!(!s.exists("guests/demo/disk"));
    assert_eq!(s.read_text("ran"), "pre demo nat\npost demo\n");
}
