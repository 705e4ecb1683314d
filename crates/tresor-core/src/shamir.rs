//! Shamir's secret sharing over GF(2^8), share-compatible with Vault's: each share is the
//! polynomial values for every byte of the secret followed by one byte, its x-coordinate.
//! Field arithmetic is branch-free so that timing does not depend on secret bytes.

use zeroize::Zeroizing;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShamirError {
    #[error("parts cannot be less than threshold")]
    PartsLessThanThreshold,
    #[error("parts cannot exceed 255")]
    TooManyParts,
    #[error("threshold must be at least 2")]
    ThresholdTooSmall,
    #[error("threshold cannot exceed 255")]
    ThresholdTooLarge,
    #[error("cannot split an empty secret")]
    EmptySecret,
    #[error("less than two parts cannot be used to reconstruct the secret")]
    TooFewParts,
    #[error("all parts must be the same length")]
    UnequalParts,
    #[error("parts must be at least two bytes")]
    PartsTooShort,
    #[error("duplicate part detected")]
    DuplicatePart,
}

/// Multiplication in GF(2^8) with the AES polynomial, without secret-dependent branches.
fn mul(a: u8, b: u8) -> u8 {
    let (mut a, mut b, mut r) = (a, b, 0u8);
    for _ in 0..8 {
        r ^= a & (0u8.wrapping_sub(b & 1));
        let carry = 0u8.wrapping_sub(a >> 7);
        a = (a << 1) ^ (0x1b & carry);
        b >>= 1;
    }
    r
}

/// a^254 = a^-1 in GF(2^8) (0 maps to 0).
fn inv(a: u8) -> u8 {
    let mut result = 1u8;
    let mut base = a;
    let mut e = 254u8;
    while e > 0 {
        if e & 1 == 1 {
            result = mul(result, base);
        }
        base = mul(base, base);
        e >>= 1;
    }
    result
}

fn eval(coeffs: &[u8], x: u8) -> u8 {
    coeffs.iter().rev().fold(0u8, |acc, c| mul(acc, x) ^ c)
}

/// Splits `secret` into `parts` shares of which any `threshold` rebuild it.
/// `fill_random` supplies randomness (a CSPRNG in production, deterministic in tests).
pub fn split(
    secret: &[u8],
    parts: usize,
    threshold: usize,
    mut fill_random: impl FnMut(&mut [u8]),
) -> Result<Vec<Zeroizing<Vec<u8>>>, ShamirError> {
    if parts < threshold {
        return Err(ShamirError::PartsLessThanThreshold);
    }
    if parts > 255 {
        return Err(ShamirError::TooManyParts);
    }
    if threshold < 2 {
        return Err(ShamirError::ThresholdTooSmall);
    }
    if threshold > 255 {
        return Err(ShamirError::ThresholdTooLarge);
    }
    if secret.is_empty() {
        return Err(ShamirError::EmptySecret);
    }
    // Distinct non-zero x-coordinates: a random permutation of 1..=255, first `parts` of it.
    let mut xs: Vec<u8> = (1..=255).collect();
    for i in (1..xs.len()).rev() {
        let mut r = [0u8; 2];
        fill_random(&mut r);
        let j = (u16::from_le_bytes(r) as usize) % (i + 1);
        xs.swap(i, j);
    }
    let mut shares: Vec<Zeroizing<Vec<u8>>> = xs[..parts]
        .iter()
        .map(|&x| {
            let mut s = Zeroizing::new(vec![0u8; secret.len() + 1]);
            s[secret.len()] = x;
            s
        })
        .collect();
    let mut coeffs = Zeroizing::new(vec![0u8; threshold]);
    for (idx, &byte) in secret.iter().enumerate() {
        coeffs[0] = byte;
        fill_random(&mut coeffs[1..]);
        for share in shares.iter_mut() {
            let x = share[secret.len()];
            share[idx] = eval(&coeffs, x);
        }
    }
    Ok(shares)
}

/// Rebuilds the secret from shares. With fewer than `threshold` shares the answer is a wrong
/// secret, not an error: the caller detects that by failing to decrypt with it.
pub fn combine(parts: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>, ShamirError> {
    if parts.len() < 2 {
        return Err(ShamirError::TooFewParts);
    }
    let len = parts[0].len();
    if len < 2 {
        return Err(ShamirError::PartsTooShort);
    }
    if parts.iter().any(|p| p.len() != len) {
        return Err(ShamirError::UnequalParts);
    }
    let xs: Vec<u8> = parts.iter().map(|p| p[len - 1]).collect();
    for (i, x) in xs.iter().enumerate() {
        if xs[..i].contains(x) {
            return Err(ShamirError::DuplicatePart);
        }
    }
    let mut secret = Zeroizing::new(vec![0u8; len - 1]);
    for (i, &xi) in xs.iter().enumerate() {
        // Lagrange basis polynomial for share i, evaluated at x = 0.
        let mut basis = 1u8;
        for (j, &xj) in xs.iter().enumerate() {
            if i != j {
                basis = mul(basis, mul(xj, inv(xi ^ xj)));
            }
        }
        for (b, out) in secret.iter_mut().enumerate() {
            *out ^= mul(parts[i][b], basis);
        }
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(seed: u64) -> impl FnMut(&mut [u8]) {
        let mut state = seed;
        move |buf: &mut [u8]| {
            for b in buf {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                *b = (state >> 33) as u8;
            }
        }
    }

    fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
        (0u32..1 << n)
            .filter(|m| m.count_ones() as usize == k)
            .map(|m| (0..n).filter(|i| m & (1 << i) != 0).collect())
            .collect()
    }

    #[test]
    fn field_inverse_is_an_inverse() {
        for a in 1..=255u8 {
            assert_eq!(mul(a, inv(a)), 1, "a = {a}");
        }
    }

    #[test]
    fn any_threshold_subset_recovers_and_fewer_do_not() {
        let secret: Vec<u8> = (0..32).map(|i| i * 7 + 3).collect();
        for (n, t) in [(5, 3), (3, 2), (6, 6), (2, 2)] {
            let shares = split(&secret, n, t, rng(n as u64 * 31 + t as u64)).unwrap();
            assert_eq!(shares.len(), n);
            assert!(shares.iter().all(|s| s.len() == secret.len() + 1));
            for k in t..=n {
                for set in subsets(n, k) {
                    let parts: Vec<&[u8]> = set.iter().map(|&i| &shares[i][..]).collect();
                    assert_eq!(
                        &combine(&parts).unwrap()[..],
                        &secret[..],
                        "{n}/{t} {set:?}"
                    );
                }
            }
            if t > 2 {
                for set in subsets(n, t - 1) {
                    let parts: Vec<&[u8]> = set.iter().map(|&i| &shares[i][..]).collect();
                    assert_ne!(
                        &combine(&parts).unwrap()[..],
                        &secret[..],
                        "{n}/{t} {set:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn rejects_bad_parameters_and_parts() {
        let r = rng(1);
        assert_eq!(
            split(b"x", 2, 3, r).unwrap_err(),
            ShamirError::PartsLessThanThreshold
        );
        assert_eq!(
            split(b"x", 3, 1, rng(1)).unwrap_err(),
            ShamirError::ThresholdTooSmall
        );
        assert_eq!(
            split(b"x", 256, 3, rng(1)).unwrap_err(),
            ShamirError::TooManyParts
        );
        assert_eq!(
            split(b"", 3, 2, rng(1)).unwrap_err(),
            ShamirError::EmptySecret
        );
        let shares = split(b"secret", 3, 2, rng(2)).unwrap();
        assert_eq!(
            combine(&[&shares[0], &shares[0]]).unwrap_err(),
            ShamirError::DuplicatePart
        );
        assert_eq!(
            combine(&[&shares[0]]).unwrap_err(),
            ShamirError::TooFewParts
        );
        assert_eq!(
            combine(&[&shares[0], &shares[1][..3]]).unwrap_err(),
            ShamirError::UnequalParts
        );
    }
}
