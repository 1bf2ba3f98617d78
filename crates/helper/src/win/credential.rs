//! A secret kept in Windows Credential Manager as a generic credential: what
//! `cmdkey /generic:TARGET /user:NAME /pass` stores, and the PowerShell CredentialManager
//! module and Python's keyring write. Read with CredReadW; the blob is the secret.

use windows_sys::Win32::Foundation::{ERROR_NOT_FOUND, GetLastError};
use windows_sys::Win32::Security::Credentials::{
    CRED_TYPE_GENERIC, CREDENTIALW, CredFree, CredReadW,
};

/// The secret stored under `target`. Err says what is wrong, never the secret.
pub fn read(target: &str) -> Result<String, String> {
    let name: Vec<u16> = target.encode_utf16().chain(Some(0)).collect();
    let mut cred: *mut CREDENTIALW = std::ptr::null_mut();
    // SAFETY: name is NUL-terminated; cred receives a buffer freed with CredFree below.
    if unsafe { CredReadW(name.as_ptr(), CRED_TYPE_GENERIC, 0, &mut cred) } == 0 {
        // SAFETY: reads this thread's last error, set by CredReadW.
        let code = unsafe { GetLastError() };
        return Err(if code == ERROR_NOT_FOUND {
            "no generic credential has that target".into()
        } else {
            format!("Credential Manager refused to read it (error {code})")
        });
    }
    // SAFETY: CredReadW succeeded: cred points to a CREDENTIALW whose blob has
    // CredentialBlobSize bytes.
    let bytes = unsafe {
        let c = &*cred;
        let size = c.CredentialBlobSize as usize;
        if c.CredentialBlob.is_null() || size == 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts(c.CredentialBlob, size).to_vec()
        }
    };
    // SAFETY: allocated by CredReadW.
    unsafe { CredFree(cred.cast()) };
    decode(&bytes).ok_or_else(|| "its secret is not text".into())
}

/// cmdkey and most tools store UTF-16LE; some (Git Credential Manager) UTF-8. Text whose
/// every second byte is zero is UTF-16LE; otherwise UTF-8 is tried before UTF-16LE.
fn decode(bytes: &[u8]) -> Option<String> {
    let utf16 = || {
        bytes.len().is_multiple_of(2).then_some(())?;
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|p| u16::from_le_bytes([p[0], p[1]]))
            .collect();
        String::from_utf16(&units).ok()
    };
    let wide = bytes.len() >= 2 && bytes.iter().skip(1).step_by(2).all(|b| *b == 0);
    if wide {
        return utf16();
    }
    std::str::from_utf8(bytes)
        .map(str::to_string)
        .ok()
        .or_else(utf16)
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn blobs_in_either_encoding_decode() {
        let wide: Vec<u8> = "s3cret".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(decode(&wide).as_deref(), Some("s3cret"));
        assert_eq!(decode(b"ab").as_deref(), Some("ab"), "even-length UTF-8");
        assert_eq!(decode("clé".as_bytes()).as_deref(), Some("clé"));
        assert_eq!(decode(&[0xff, 0xfe, 0xfd]), None);
    }
}
