#![no_main]
use hanport_fuzz::checks::{check_push, check_tree, Push, Tree};
use libfuzzer_sys::{arbitrary, fuzz_target};

#[derive(Debug, arbitrary::Arbitrary)]
enum Case {
    /// An A-XDR value tree: encode, decode, compare node by node.
    Tree(Tree),
    /// An Aidon-style OBIS push: encode, frame, `decode_frame`, compare the objects.
    Push(Push),
}

fuzz_target!(|case: Case| {
    match case {
        Case::Tree(t) => check_tree(&t),
        Case::Push(p) => check_push(&p),
    }
});
