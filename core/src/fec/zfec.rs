//! zfec-compatible systematic k-of-n erasure code (PROTOCOL.md §5.1, §10.1).
//!
//! zfec evaluates a Vandermonde matrix at the points `x_0 = 0` and
//! `x_r = α^(r−1)` (α = 2 in GF(2⁸)/0x11D) and makes it systematic as
//! `E = V · inv(V_top)`. Stock `reed-solomon-erasure` uses different points, so
//! it is not used here; the bulk multiply-add is a 256-entry row table built
//! from the log/exp tables (the crate's 64 KB product table would otherwise
//! be a quarter of the web client's download).
//!
//! `V · inv(V_top)` maps the k data blocks to the values at `x_r` of the unique
//! polynomial of degree < k that takes the data values at `x_0..x_{k−1}`. Row r
//! of E is therefore the Lagrange basis of those k points evaluated at `x_r`,
//! and decoding is interpolation through the k received points. Both are
//! computed in O(k²) field operations per call instead of O(k³) matrix
//! inversion, and give the same bytes as zfec because the solution of the
//! k×k system is unique.

use alloc::vec;
use alloc::vec::Vec;

use crate::error::{Error, Result};

/// zfec's share limit: 0, α⁰, …, α²⁵⁴ are the only 256 distinct points.
pub const MAX_SHARES: usize = 256;

/// Order of the multiplicative group of GF(2⁸).
const ORDER: usize = 255;

/// Powers and discrete logs of α = 2 in GF(2⁸)/0x11D, built at compile time
/// (768 bytes). The matrix entries are products and quotients, which become
/// sums and differences of logs; [`mul_slice_xor`] builds its row of
/// products from them.
const fn gf_tables() -> ([u8; ORDER], [u8; 256]) {
    let mut exp = [0u8; ORDER];
    let mut log = [0u8; 256];
    let mut x: u16 = 1;
    let mut i = 0;
    while i < ORDER {
        exp[i] = x as u8;
        log[x as usize] = i as u8;
        x <<= 1;
        if x & 0x100 != 0 {
            x ^= 0x11d;
        }
        i += 1;
    }
    (exp, log)
}

static EXP: [u8; ORDER] = gf_tables().0;
static LOG: [u8; 256] = gf_tables().1;

/// `out[i] ^= c · input[i]` in GF(2⁸)/0x11D, through the 256 products of `c`.
fn mul_slice_xor(c: u8, input: &[u8], out: &mut [u8]) {
    if c == 0 {
        return;
    }
    let log_c = LOG[usize::from(c)] as usize;
    let mut row = [0u8; 256];
    for (x, r) in row.iter_mut().enumerate().skip(1) {
        *r = EXP[(LOG[x] as usize + log_c) % ORDER];
    }
    for (o, &i) in out.iter_mut().zip(input) {
        *o ^= row[usize::from(i)];
    }
}

/// Whether zfec accepts `(k, n)`: 1 ≤ k ≤ n ≤ 256.
pub fn valid_params(k: usize, n: usize) -> bool {
    k >= 1 && k <= n && n <= MAX_SHARES
}

/// Evaluation point of share `i` (< 256): 0 for share 0, α^(i−1) after it.
fn point(i: usize) -> u8 {
    match i.checked_sub(1) {
        None => 0,
        Some(e) => EXP[e % ORDER],
    }
}

/// log of a non-zero difference `a − b` (XOR in GF(2⁸)) of distinct points.
fn log_diff(a: u8, b: u8) -> usize {
    LOG[usize::from(a ^ b)] as usize
}

/// `log w_i` with `w_i = ∏_{m≠i} (x_i − x_m)` over the points `xs`, which
/// must be distinct so that every factor is non-zero.
fn log_denominators(xs: &[u8]) -> Vec<usize> {
    xs.iter()
        .enumerate()
        .map(|(i, &xi)| {
            let mut sum = 0;
            for (m, &xm) in xs.iter().enumerate() {
                if m != i {
                    sum += log_diff(xi, xm);
                }
            }
            sum % ORDER
        })
        .collect()
}

/// The Lagrange basis of the points `xs` (log denominators `log_ws`)
/// evaluated at `x`, which must differ from every point in `xs`:
/// `L_j(x) = ∏_m (x − x_m) / ((x − x_j) · w_j)`.
fn lagrange_row(xs: &[u8], log_ws: &[usize], x: u8) -> Vec<u8> {
    let log_num = xs.iter().map(|&xm| log_diff(x, xm)).sum::<usize>() % ORDER;
    xs.iter()
        .zip(log_ws)
        .map(|(&xj, &log_wj)| EXP[(log_num + 2 * ORDER - log_diff(x, xj) - log_wj) % ORDER])
        .collect()
}

/// Rows k..n of zfec's encoding matrix E: `rows[r − k][j]` is the coefficient of
/// data block j in share r. A row depends only on k and r, never on n.
pub fn parity_rows(k: usize, n: usize) -> Result<Vec<Vec<u8>>> {
    if !valid_params(k, n) {
        return Err(Error::Invalid("erasure parameters need 1 <= k <= n <= 256"));
    }
    let xs: Vec<u8> = (0..k).map(point).collect();
    let log_ws = log_denominators(&xs);
    Ok((k..n)
        .map(|r| lagrange_row(&xs, &log_ws, point(r)))
        .collect())
}

/// Encode k equal-length data blocks into all n shares, exactly as
/// `zfec.Encoder(k, n).encode(blocks)`: share i is block i for i < k, the
/// rest are parity.
pub fn encode(k: usize, n: usize, blocks: &[&[u8]]) -> Result<Vec<Vec<u8>>> {
    let rows = parity_rows(k, n)?;
    if blocks.len() != k {
        return Err(Error::Invalid("erasure encode needs exactly k blocks"));
    }
    let len = blocks.first().map_or(0, |b| b.len());
    if blocks.iter().any(|b| b.len() != len) {
        return Err(Error::Invalid("erasure blocks differ in length"));
    }
    let mut shares: Vec<Vec<u8>> = Vec::with_capacity(n);
    shares.extend(blocks.iter().map(|b| b.to_vec()));
    for row in &rows {
        let mut share = vec![0u8; len];
        for (&c, block) in row.iter().zip(blocks) {
            mul_slice_xor(c, block, &mut share);
        }
        shares.push(share);
    }
    Ok(shares)
}

/// Recover the k data blocks from `(share id, share)` pairs, as
/// `zfec.Decoder(k, n)` does when given the k lowest distinct ids.
///
/// Duplicate ids keep their first occurrence. Fails (never panics) when
/// `(k, n)` is not valid for zfec (n > 256 included), when fewer than k
/// distinct ids are given, when one of the k chosen ids is ≥ n, or when the
/// chosen shares differ in length.
pub fn decode(k: usize, n: usize, shares: &[(usize, &[u8])]) -> Result<Vec<Vec<u8>>> {
    if !valid_params(k, n) {
        return Err(Error::Decode("erasure parameters need 1 <= k <= n <= 256"));
    }
    let mut chosen: Vec<(usize, &[u8])> = shares.to_vec();
    // Stable sort, then dedup: the first occurrence of an id wins.
    chosen.sort_by_key(|&(id, _)| id);
    chosen.dedup_by_key(|&mut (id, _)| id);
    if chosen.len() < k {
        return Err(Error::Decode("fewer than k erasure shares"));
    }
    chosen.truncate(k);
    if chosen.iter().any(|&(id, _)| id >= n) {
        return Err(Error::Decode("erasure share id out of range"));
    }
    let len = chosen.first().map_or(0, |&(_, s)| s.len());
    if chosen.iter().any(|&(_, s)| s.len() != len) {
        return Err(Error::Decode("erasure shares differ in length"));
    }

    // Ids are sorted and below n ≤ 256, so the points are distinct.
    let xs: Vec<u8> = chosen.iter().map(|&(id, _)| point(id)).collect();
    let mut log_ws: Option<Vec<usize>> = None;
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(k);
    let mut next = 0; // index into `chosen` of the first id not yet passed
    for j in 0..k {
        while chosen.get(next).is_some_and(|&(id, _)| id < j) {
            next += 1;
        }
        if let Some(&(id, share)) = chosen.get(next)
            && id == j
        {
            out.push(share.to_vec());
            continue;
        }
        // Data block j is missing: evaluate the interpolating polynomial at x_j.
        let log_ws = log_ws.get_or_insert_with(|| log_denominators(&xs));
        let row = lagrange_row(&xs, log_ws, point(j));
        let mut block = vec![0u8; len];
        for (&c, &(_, share)) in row.iter().zip(&chosen) {
            mul_slice_xor(c, share, &mut block);
        }
        out.push(block);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_match_galois_8() {
        use reed_solomon_erasure::galois_8::exp;
        for e in 0..ORDER {
            assert_eq!(EXP[e], exp(2, e));
            assert_eq!(LOG[EXP[e] as usize] as usize, e);
        }
    }

    #[test]
    fn mul_slice_xor_matches_galois_8() {
        let input: Vec<u8> = (0..=255).collect();
        for c in 0..=255u8 {
            let mut ours = vec![0x5a; 256];
            let mut theirs = ours.clone();
            mul_slice_xor(c, &input, &mut ours);
            reed_solomon_erasure::galois_8::mul_slice_xor(c, &input, &mut theirs);
            assert_eq!(ours, theirs, "c = {c}");
        }
    }

    #[test]
    fn points_follow_zfec() {
        let pts: Vec<u8> = (0..11).map(point).collect();
        assert_eq!(pts, [0, 1, 2, 4, 8, 16, 32, 64, 128, 0x1d, 0x3a]);
        // All 256 points are distinct.
        let mut seen = [false; 256];
        for i in 0..MAX_SHARES {
            let p = point(i) as usize;
            assert!(!seen[p]);
            seen[p] = true;
        }
    }

    #[test]
    fn parameter_limits() {
        assert!(parity_rows(196, 255).is_ok());
        assert!(parity_rows(1, 256).is_ok());
        assert!(parity_rows(3, 3).unwrap().is_empty());
        assert!(parity_rows(0, 3).is_err());
        assert!(parity_rows(4, 3).is_err());
        assert!(parity_rows(200, 257).is_err());
        assert!(encode(2, 257, &[b"a", b"b"]).is_err());
        assert!(encode(2, 3, &[b"a"]).is_err());
        assert!(encode(2, 3, &[b"a", b"bc"]).is_err());
        assert!(decode(2, 257, &[(0, b"a"), (1, b"b")]).is_err());
    }
}
