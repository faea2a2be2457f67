//! `fec` target: both erasure layers and the chunk wrapper. The first byte
//! picks a mode (mod 4), the rest is that mode's input:
//!
//! 0. raw erasure decode: `k: u8 ‖ n: u16 ‖ L: u8 ‖ (id: u16 ‖ L bytes)*`
//!    into `zfec::decode` and `fec::decode_message`. A successful zfec
//!    decode must re-encode to exactly the chosen shares (MDS property) and
//!    keep the data shares it was given.
//! 1. erasure round trip: `seed: u64 ‖ outer`; `outer` is encoded, a
//!    seed-chosen set of k shares (shuffled, with duplicates) must decode
//!    back to it, and one share must survive the chunk wrapper.
//! 2. Reed-Solomon: `e: u8 ‖ seed: u64 ‖ data`; the whole input goes through
//!    `reedsolo::decode`, and `data`, encoded with up to `e mod 17` byte
//!    errors per 255-byte codeword, must decode back to `data`.
//! 3. chunks: the rest, as a lossy UTF-8 TXT value, goes through
//!    `parse_chunk_data` → `unwrap_block`, and as bytes through
//!    `unwrap_block`; its first 128 bytes, wrapped and hit by up to 16 byte
//!    errors in the codeword, must unwrap to themselves.

use dmp_core::fec::{self, BLOCK_SIZE, reedsolo, zfec};
use dmp_core::records::chunk::{
    CHECKSUM_LEN, chunk_wire, parse_chunk_data, unwrap_block, wrap_block,
};

use crate::world::{Mix, take_u64};

/// Longest `outer` tried in mode 1 (bounded to keep executions fast).
const MAX_ROUND_TRIP: usize = 8 * 1024;

/// The `fec` target body.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => raw_erasure(rest),
        1 => erasure_round_trip(rest),
        2 => reed_solomon(rest),
        _ => chunks(rest),
    }
}

fn raw_erasure(data: &[u8]) {
    let [k, n_hi, n_lo, len, rest @ ..] = data else {
        return;
    };
    let k = usize::from(*k);
    let n = usize::from(u16::from_be_bytes([*n_hi, *n_lo]));
    let len = usize::from(*len);
    let shares: Vec<(usize, &[u8])> = rest
        .chunks_exact(2 + len)
        .map(|c| (usize::from(u16::from_be_bytes([c[0], c[1]])), &c[2..]))
        .collect();

    let _ = fec::decode_message(k, n, &shares);

    let Ok(blocks) = zfec::decode(k, n, &shares) else {
        return;
    };
    assert_eq!(blocks.len(), k);
    assert!(blocks.iter().all(|b| b.len() == len));
    // The k lowest distinct ids, first occurrence winning (as documented).
    let mut chosen = shares.clone();
    chosen.sort_by_key(|&(id, _)| id);
    chosen.dedup_by_key(|&mut (id, _)| id);
    chosen.truncate(k);
    let refs: Vec<&[u8]> = blocks.iter().map(Vec::as_slice).collect();
    let encoded = zfec::encode(k, n, &refs).expect("decoded blocks must re-encode");
    assert_eq!(encoded.len(), n);
    for (id, share) in chosen {
        assert_eq!(
            encoded[id], share,
            "share {id} not reproduced (k={k}, n={n})"
        );
        if id < k {
            assert_eq!(blocks[id], share, "data share {id} changed by decode");
        }
    }
}

fn erasure_round_trip(data: &[u8]) {
    let (seed, outer) = take_u64(data);
    let outer = &outer[..outer.len().min(MAX_ROUND_TRIP)];
    let (k, n, shares) = fec::encode_message(outer).expect("short outer must encode");
    assert_eq!(shares.len(), n);
    assert_eq!((k, n), fec::params_for_len(outer.len()).unwrap());
    let mut mix = Mix(seed);
    let mut ids: Vec<usize> = (0..n).collect();
    mix.shuffle(&mut ids);
    let mut picked: Vec<(usize, &[u8])> = ids[..k].iter().map(|&i| (i, &shares[i][..])).collect();
    // A duplicate of a chosen id (identical share) changes nothing.
    if seed & 1 == 1 {
        let dup = picked[mix.below(k)];
        picked.insert(mix.below(picked.len() + 1), dup);
    }
    assert_eq!(
        fec::decode_message(k, n, &picked).as_deref(),
        Ok(outer),
        "erasure round trip with ids {:?}",
        picked.iter().map(|p| p.0).collect::<Vec<_>>()
    );
    // One share through the chunk wrapper and its TXT value.
    let share = &shares[mix.below(n)];
    let wire = chunk_wire(&wrap_block(share));
    let parsed = parse_chunk_data(&wire).expect("own chunk wire must parse");
    assert_eq!(unwrap_block(&parsed).as_deref(), Ok(&share[..]));
}

fn reed_solomon(data: &[u8]) {
    let _ = reedsolo::decode(data);
    let [e, rest @ ..] = data else { return };
    let (seed, msg) = take_u64(rest);
    if msg.is_empty() {
        return;
    }
    let errors = usize::from(*e) % (reedsolo::NSYM / 2 + 1);
    let mut cw = reedsolo::encode(msg);
    let mut mix = Mix(seed);
    for piece in cw.chunks_mut(reedsolo::NSIZE) {
        corrupt(piece, errors, &mut mix);
    }
    assert_eq!(
        reedsolo::decode(&cw).as_deref(),
        Ok(msg),
        "{errors} errors per codeword not corrected"
    );
}

/// XOR non-zero values into `errors` distinct positions of `buf`.
fn corrupt(buf: &mut [u8], errors: usize, mix: &mut Mix) {
    let mut pos: Vec<usize> = (0..buf.len()).collect();
    mix.shuffle(&mut pos);
    for &p in pos.iter().take(errors) {
        buf[p] ^= (mix.below(255) + 1) as u8;
    }
}

fn chunks(data: &[u8]) {
    let value = String::from_utf8_lossy(data);
    if let Ok(d) = parse_chunk_data(&value) {
        let _ = unwrap_block(&d);
    }
    let _ = unwrap_block(data);

    let mut block = [0u8; BLOCK_SIZE];
    let n = data.len().min(BLOCK_SIZE);
    block[..n].copy_from_slice(&data[..n]);
    let mut wrapped = wrap_block(&block);
    let errors = data
        .first()
        .map_or(0, |&b| usize::from(b) % (reedsolo::NSYM / 2 + 1));
    let mut mix = Mix(data.len() as u64);
    corrupt(&mut wrapped[CHECKSUM_LEN..], errors, &mut mix);
    assert_eq!(unwrap_block(&wrapped).as_deref(), Ok(&block[..]));
}
