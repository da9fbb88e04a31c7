//! Every operation and option of the classic tool.

use crate::support::Scratch;

#[test]
fn create_then_check() {
    let s = Scratch::new();
    s.write("Image", b"kernel");
    s.run(&["create", "g.xenguest", "--xen-kernel=Image"]).success();
    s.run(&["check", "g.xenguest"]).success().stdout_has(&["Image is OK"]);
}
