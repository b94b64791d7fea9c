//! HDLC segmentation (S-bit) reassembly (PROTOCOL.md §2.6). Work in progress.
