//! General Block Transfer (xDLMS `E0`) parsing and reassembly (PROTOCOL.md §2.7). Work in progress.
