//! DSMR/P1 ASCII telegrams (IEC 62056-21 mode D style, CRC-16/ARC; PROTOCOL.md §6.3, §9.2,
//! §13, §14). Work in progress.
