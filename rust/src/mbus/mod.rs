//! Wired M-Bus long frames (EN 13757-2) carrying DLMS: the frame view, the DLMS transport
//! header and CI-field segment reassembly (PROTOCOL.md §3). Work in progress.
