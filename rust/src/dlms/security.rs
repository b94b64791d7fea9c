//! Ciphered APDUs (general-glo-ciphering `DB`, general-ded-ciphering `DC`): the security
//! header, the key ring and AES-128-GCM (PROTOCOL.md §4.3, Appendix B.4). Work in progress.
