//! `Cursor`: the bounds-checked byte reader every decoder above the frame view uses.
//!
//! Each read either returns the bytes or a [`ErrorKind::Truncated`] error carrying the layer
//! and the offset where the input ran out. Nothing here can panic.

use crate::error::{Error, ErrorKind, Layer, Result};

/// A position in a borrowed byte slice.
#[derive(Debug, Clone, Copy)]
pub struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    layer: Layer,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `data`; errors are attributed to `layer`.
    pub fn new(data: &'a [u8], layer: Layer) -> Self {
        Cursor {
            data,
            pos: 0,
            layer,
        }
    }

    /// Current offset.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    /// The bytes left, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or(&[])
    }

    /// An error of this cursor's layer at its current position.
    pub fn error(&self, kind: ErrorKind) -> Error {
        Error::new(self.layer, self.pos, kind)
    }

    /// An error at an explicit offset.
    pub fn error_at(&self, offset: usize, kind: ErrorKind) -> Error {
        Error::new(self.layer, offset, kind)
    }

    /// Takes `n` bytes.
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`] if fewer than `n` bytes are left.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n);
        match end.and_then(|end| self.data.get(self.pos..end)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(self.error(ErrorKind::Truncated {
                needed: n,
                available: self.remaining(),
            })),
        }
    }

    /// Takes exactly `N` bytes as an array.
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`] if fewer than `N` bytes are left.
    #[inline]
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Reads one byte.
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`] at the end of the input.
    #[inline]
    pub fn u8(&mut self) -> Result<u8> {
        match self.data.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(self.error(ErrorKind::Truncated {
                needed: 1,
                available: 0,
            })),
        }
    }

    /// The next byte without consuming it.
    pub fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    /// Reads a big-endian u16.
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`].
    pub fn be_u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian u32.
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`].
    pub fn be_u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian u64.
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`].
    pub fn be_u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_truncation() {
        let mut c = Cursor::new(&[1, 2, 3, 4, 5], Layer::Axdr);
        assert_eq!(c.u8().unwrap(), 1);
        assert_eq!(c.be_u16().unwrap(), 0x0203);
        let e = c.be_u32().unwrap_err();
        assert_eq!(e.offset, 3);
        assert_eq!(
            e.kind,
            ErrorKind::Truncated {
                needed: 4,
                available: 2
            }
        );
        assert_eq!(c.take(2).unwrap(), &[4, 5]);
        assert!(c.u8().is_err());
        assert!(c.take(usize::MAX).is_err());
    }
}
