//! The IEC 62056-47 wrapper (version, source/destination wPort, length) around an APDU.
//! Work in progress.
