//! Offset pagination (`from`, `size`), as the ECE list endpoints take it.

use crate::error::Invalid;

/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: u64 = 100;
/// Page size when the client names none.
pub const DEFAULT_PAGE_SIZE: u64 = 20;

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    from: u64,
    size: u64,
}

impl PageRequest {
    /// Validates `from` (at least 0) and `size` (1 to [`MAX_PAGE_SIZE`]).
    ///
    /// # Errors
    /// [`Invalid`] naming `from` or `size` when either is out of bounds.
    pub fn parse(from: Option<i64>, size: Option<i64>) -> Result<Self, Invalid> {
        let from = match from {
            None => 0,
            Some(f) if f >= 0 => f as u64,
            Some(_) => return Err(Invalid::new("from", "must be 0 or greater")),
        };
        let size = match size {
            None => DEFAULT_PAGE_SIZE,
            Some(s) if (1..=MAX_PAGE_SIZE as i64).contains(&s) => s as u64,
            Some(_) => return Err(Invalid::new("size", format!("must be between 1 and {MAX_PAGE_SIZE}"))),
        };
        Ok(Self { from, size })
    }

    /// Index of the first item.
    pub fn from(&self) -> u64 {
        self.from
    }
    /// Maximum number of items.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self { from: 0, size: DEFAULT_PAGE_SIZE }
    }
}

/// One page of results and the total number of matching items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// How many items match in all.
    pub total: u64,
    /// The request this page answers.
    pub request: PageRequest,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_enforced() {
        assert_eq!(PageRequest::parse(None, None).unwrap(), PageRequest::default());
        assert_eq!(PageRequest::parse(Some(-1), None).unwrap_err().field, "from");
        assert_eq!(PageRequest::parse(None, Some(0)).unwrap_err().field, "size");
        assert_eq!(PageRequest::parse(None, Some(101)).unwrap_err().field, "size");
        assert_eq!(PageRequest::parse(Some(5), Some(100)).unwrap().size(), 100);
    }
}
