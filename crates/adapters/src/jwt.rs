//! The token codec: Ed25519 / P-256 key generation (aws-lc-rs), private keys sealed with
//! AES-256-GCM under the master key, JWT signing and verification (jsonwebtoken with its
//! aws-lc-rs backend). Unsealed keys are cached by `kid`.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use keyplane_domain::policy::SigningAlgorithm;
use keyplane_domain::token::{Claims, CryptoError, KeyMaterial, SigningKey, TokenCodec};
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;

use crate::master_key::MasterKey;

/// How many keys the codec keeps ready (parsed, and unsealed for signing) by `kid`.
const KEY_CAPACITY: u64 = 10_000;

/// The [`TokenCodec`] implementation.
pub struct JwtCodec {
    master: LessSafeKey,
    rng: SystemRandom,
    /// Unsealed private keys by `kid`, bounded: keys no longer used are forgotten.
    encoding: moka::sync::Cache<String, Arc<EncodingKey>>,
    /// Public keys by `kid`, bounded likewise.
    decoding: moka::sync::Cache<String, Arc<DecodingKey>>,
    /// Access tokens whose signature already verified, by SHA-256 of key id and token: a
    /// token is immutable, so the answer cannot change (expiry and sessions are checked by
    /// the caller, every time). Saves the signature check when the same access token is
    /// presented again; refresh tokens are single-use and not kept.
    verified: moka::sync::Cache<[u8; 32], Claims>,
}

fn key_error(what: &str) -> CryptoError {
    CryptoError::Key(what.to_owned())
}

fn jose(algorithm: SigningAlgorithm) -> Algorithm {
    match algorithm {
        SigningAlgorithm::EdDsa => Algorithm::EdDSA,
        SigningAlgorithm::Es256 => Algorithm::ES256,
    }
}

/// The JOSE `typ` of a token: RFC 9068's `at+jwt` for access tokens, so that no standard
/// verifier takes another kind of Keyplane token for one.
fn typ_of(token_use: &str) -> &'static str {
    if token_use == keyplane_domain::token::ACCESS {
        "at+jwt"
    } else {
        "refresh+jwt"
    }
}

impl JwtCodec {
    /// A codec sealing private keys under `master`.
    ///
    /// # Panics
    /// Never: a 32-byte key always makes an AES-256 key.
    pub fn new(master: &MasterKey) -> Self {
        let key = UnboundKey::new(&AES_256_GCM, &master.0).expect("32 bytes make an AES-256 key");
        Self {
            master: LessSafeKey::new(key),
            rng: SystemRandom::new(),
            encoding: moka::sync::Cache::new(KEY_CAPACITY),
            decoding: moka::sync::Cache::new(KEY_CAPACITY),
            verified: moka::sync::Cache::builder()
                .max_capacity(20_000)
                .time_to_live(std::time::Duration::from_secs(300))
                .build(),
        }
    }

    /// `nonce || ciphertext || tag`, with the `kid` as associated data.
    fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| key_error("no randomness"))?;
        let mut buffer = plaintext.to_vec();
        self.master
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(kid.as_bytes()), &mut buffer)
            .map_err(|_| key_error("sealing failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buffer);
        Ok(out)
    }

    fn unseal(&self, kid: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(key_error("sealed key too short"));
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| key_error("bad nonce"))?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .master
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut buffer)
            .map_err(|_| key_error("the signing key does not open under this master key"))?;
        Ok(plain.to_vec())
    }

    fn encoding_key(&self, key: &SigningKey) -> Result<Arc<EncodingKey>, CryptoError> {
        if let Some(k) = self.encoding.get(&key.kid) {
            return Ok(k);
        }
        let der = self.unseal(&key.kid, &key.sealed_private)?;
        let encoding = Arc::new(match key.algorithm {
            SigningAlgorithm::EdDsa => EncodingKey::from_ed_der(&der),
            SigningAlgorithm::Es256 => EncodingKey::from_ec_der(&der),
        });
        self.encoding.insert(key.kid.clone(), encoding.clone());
        Ok(encoding)
    }

    fn decoding_key(&self, key: &SigningKey) -> Result<Arc<DecodingKey>, CryptoError> {
        if let Some(k) = self.decoding.get(&key.kid) {
            return Ok(k);
        }
        let field = |name: &str| key.public_jwk[name].as_str().ok_or_else(|| key_error("malformed public JWK"));
        let decoding = Arc::new(
            match key.algorithm {
                SigningAlgorithm::EdDsa => DecodingKey::from_ed_components(field("x")?),
                SigningAlgorithm::Es256 => DecodingKey::from_ec_components(field("x")?, field("y")?),
            }
            .map_err(|e| CryptoError::Key(e.to_string()))?,
        );
        self.decoding.insert(key.kid.clone(), decoding.clone());
        Ok(decoding)
    }
}

impl TokenCodec for JwtCodec {
    fn generate(&self, kid: &str, algorithm: SigningAlgorithm) -> Result<KeyMaterial, CryptoError> {
        let (pkcs8, public_jwk) = match algorithm {
            SigningAlgorithm::EdDsa => {
                let pkcs8 = Ed25519KeyPair::generate_pkcs8(&self.rng).map_err(|_| key_error("Ed25519 generation"))?;
                let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| key_error("Ed25519 parse"))?;
                let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
                (
                    pkcs8.as_ref().to_vec(),
                    json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"}),
                )
            }
            SigningAlgorithm::Es256 => {
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.rng)
                    .map_err(|_| key_error("P-256 generation"))?;
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                    .map_err(|_| key_error("P-256 parse"))?;
                let point = pair.public_key().as_ref();
                if point.len() != 65 || point[0] != 4 {
                    return Err(key_error("unexpected P-256 public key encoding"));
                }
                let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
                let y = URL_SAFE_NO_PAD.encode(&point[33..]);
                (
                    pkcs8.as_ref().to_vec(),
                    json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig"}),
                )
            }
        };
        Ok(KeyMaterial { public_jwk, sealed_private: self.seal(kid, &pkcs8)? })
    }

    fn sign(&self, key: &SigningKey, claims: &Claims) -> Result<String, CryptoError> {
        let encoding = self.encoding_key(key)?;
        let mut header = Header::new(jose(key.algorithm));
        header.kid = Some(key.kid.clone());
        header.typ = Some(typ_of(&claims.token_use).to_owned());
        jsonwebtoken::encode(&header, claims, &encoding).map_err(|e| CryptoError::Key(e.to_string()))
    }

    fn kid_of(&self, token: &str) -> Option<String> {
        jsonwebtoken::decode_header(token).ok()?.kid
    }

    fn verify(&self, key: &SigningKey, token: &str) -> Result<Claims, CryptoError> {
        let cache_key: [u8; 32] = {
            use sha2::{Digest, Sha256};
            let mut digest = Sha256::new();
            digest.update(key.kid.as_bytes());
            digest.update([0]);
            digest.update(token.as_bytes());
            digest.finalize().into()
        };
        if let Some(claims) = self.verified.get(&cache_key) {
            return Ok(claims);
        }
        let decoding = self.decoding_key(key)?;
        let mut validation = Validation::new(jose(key.algorithm));
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims = HashSet::new();
        let data =
            jsonwebtoken::decode::<Claims>(token, &decoding, &validation).map_err(|_| CryptoError::InvalidToken)?;
        if data.header.typ.as_deref() != Some(typ_of(&data.claims.token_use)) {
            return Err(CryptoError::InvalidToken);
        }
        let claims = data.claims;
        if claims.token_use == keyplane_domain::token::ACCESS {
            self.verified.insert(cache_key, claims.clone());
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyplane_domain::ids::SigningKeyId;
    use keyplane_domain::scope::Scope;

    fn key(codec: &JwtCodec, algorithm: SigningAlgorithm) -> SigningKey {
        let kid = SigningKeyId::generate().to_string();
        let material = codec.generate(&kid, algorithm).unwrap();
        SigningKey {
            id: SigningKeyId::generate(),
            scope: Scope::Platform,
            kid,
            algorithm,
            public_jwk: material.public_jwk,
            sealed_private: material.sealed_private,
            created_at: chrono::Utc::now(),
            retired_at: None,
            retain_until: None,
        }
    }

    fn claims() -> Claims {
        Claims {
            iss: "http://x/t/a".into(),
            sub: "s".into(),
            aud: "http://x/t/a".into(),
            exp: 2_000_000_000,
            iat: 1_000_000_000,
            jti: "j".into(),
            tid: None,
            sid: uuid::Uuid::nil(),
            user_name: "u".into(),
            roles: vec![],
            token_use: "access".into(),
            renewable_until: None,
        }
    }

    #[test]
    fn both_algorithms_sign_and_verify_and_reject_tampering() {
        let codec = JwtCodec::new(&MasterKey([7; 32]));
        for alg in [SigningAlgorithm::EdDsa, SigningAlgorithm::Es256] {
            let k = key(&codec, alg);
            let token = codec.sign(&k, &claims()).unwrap();
            assert_eq!(codec.kid_of(&token), Some(k.kid.clone()));
            assert_eq!(codec.verify(&k, &token).unwrap(), claims());
            let other = key(&codec, alg);
            assert!(codec.verify(&other, &token).is_err(), "another key's signature fails");
            let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
            parts[1] = URL_SAFE_NO_PAD.encode(br#"{"sub":"forged"}"#);
            assert!(codec.verify(&k, &parts.join(".")).is_err());
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Any text is refused as a token (and its kid read or not), never a panic.
        #[test]
        fn any_text_is_refused_as_a_token(raw in "[A-Za-z0-9_.=+/-]{0,400}|\\PC{0,200}") {
            let codec = JwtCodec::new(&MasterKey([3; 32]));
            let k = key(&codec, SigningAlgorithm::EdDsa);
            let _ = codec.kid_of(&raw);
            proptest::prop_assert!(codec.verify(&k, &raw).is_err());
        }

        /// A real token with any one character changed, dropped or added is refused.
        #[test]
        fn an_altered_token_is_refused(
            es256 in proptest::bool::ANY,
            at in 0usize..1000,
            with in "[A-Za-z0-9_.-]",
            how in 0u8..3,
        ) {
            let codec = JwtCodec::new(&MasterKey([4; 32]));
            let k = key(&codec, if es256 { SigningAlgorithm::Es256 } else { SigningAlgorithm::EdDsa });
            let token = codec.sign(&k, &claims()).unwrap();
            let at = at % token.len();
            let mut altered = token.clone();
            match how {
                0 => altered.replace_range(at..=at, &with),
                1 => { altered.remove(at); }
                _ => altered.insert_str(at, &with),
            }
            proptest::prop_assume!(altered != token);
            proptest::prop_assert!(codec.verify(&k, &altered).is_err(), "{} accepted", altered);
        }
    }

    #[test]
    fn private_keys_open_only_under_their_master_key_and_kid() {
        let codec = JwtCodec::new(&MasterKey([1; 32]));
        let k = key(&codec, SigningAlgorithm::EdDsa);
        let stranger = JwtCodec::new(&MasterKey([2; 32]));
        assert!(stranger.sign(&k, &claims()).is_err(), "another master key cannot unseal");
        let moved = SigningKey { kid: "other-kid".into(), ..k.clone() };
        assert!(codec.sign(&moved, &claims()).is_err(), "the kid is bound to the ciphertext");
    }
}
