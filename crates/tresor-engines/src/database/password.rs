//! Generated passwords. The default is Vault's default password policy for database
//! credentials: 20 characters of letters, digits and `-`, with at least one lowercase letter,
//! one uppercase letter, one digit and one `-`. Drawn from aws-lc's generator by rejection
//! sampling, so every character is uniform over its set.

use tresor_sdk::{Error, Result};
use zeroize::Zeroizing;

const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &[u8] = b"0123456789";
const ALPHANUMERIC: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const DEFAULT_SET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-";
const DEFAULT_LENGTH: usize = 20;

/// A uniformly random index below `n` (n ≤ 256).
fn index_below(n: usize) -> Result<usize> {
    let limit = 256 - 256 % n;
    loop {
        let mut b = [0u8; 1];
        aws_lc_rs::rand::fill(&mut b).map_err(|_| Error::internal("no randomness"))?;
        if (b[0] as usize) < limit {
            return Ok(b[0] as usize % n);
        }
    }
}

fn pick(set: &[u8], n: usize, out: &mut Vec<u8>) -> Result<()> {
    for _ in 0..n {
        out.push(set[index_below(set.len())?]);
    }
    Ok(())
}

/// `n` random letters and digits (the template function `random`).
pub fn random_alphanumeric(n: usize) -> Result<String> {
    let mut out = Vec::with_capacity(n);
    pick(ALPHANUMERIC, n, &mut out)?;
    Ok(String::from_utf8(out).unwrap_or_default())
}

/// A new database password, by the default policy.
pub fn generate() -> Result<Zeroizing<String>> {
    let mut chars = Zeroizing::new(Vec::with_capacity(DEFAULT_LENGTH));
    for set in [LOWER, UPPER, DIGITS, b"-".as_slice()] {
        pick(set, 1, &mut chars)?;
    }
    pick(DEFAULT_SET, DEFAULT_LENGTH - 4, &mut chars)?;
    // Shuffle (Fisher–Yates) so the required characters are not always first.
    for i in (1..chars.len()).rev() {
        let j = index_below(i + 1)?;
        chars.swap(i, j);
    }
    let s = std::str::from_utf8(&chars)
        .map_err(|_| Error::internal("generated password is not text"))?
        .to_owned();
    Ok(Zeroizing::new(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_follow_the_default_policy_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(*a, *b);
        for p in [&a, &b] {
            assert_eq!(p.len(), 20);
            assert!(p.bytes().all(|c| DEFAULT_SET.contains(&c)));
            assert!(p.bytes().any(|c| c.is_ascii_lowercase()));
            assert!(p.bytes().any(|c| c.is_ascii_uppercase()));
            assert!(p.bytes().any(|c| c.is_ascii_digit()));
            assert!(p.contains('-'));
        }
        let r = random_alphanumeric(40).unwrap();
        assert_eq!(r.len(), 40);
        assert!(r.bytes().all(|c| c.is_ascii_alphanumeric()));
    }
}
