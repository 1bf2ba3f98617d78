//! Windows has no mode bits: who may open a file is its DACL. The Unix checks "not 0600" and
//! "not 0700" become "an access rule grants another account read, write or control", and the
//! repair (chmod 700) becomes a protected DACL that grants only this user.
//!
//! Trusted besides this user, as OpenSSH for Windows trusts them for private keys: SYSTEM and
//! the Administrators group (both can take any file anyway), and CREATOR OWNER (an inherited
//! rule for whoever creates a child: here, this user).

use std::os::windows::ffi::OsStrExt;
use std::path::Path;
use windows_sys::Win32::Foundation::{CloseHandle, ERROR_SUCCESS, HANDLE, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, EXPLICIT_ACCESS_W, GetNamedSecurityInfoW, SE_FILE_OBJECT, SET_ACCESS,
    SetEntriesInAclW, SetNamedSecurityInfoW, TRUSTEE_IS_SID, TRUSTEE_IS_USER, TRUSTEE_W,
};
use windows_sys::Win32::Security::{
    ACCESS_ALLOWED_ACE, ACE_HEADER, ACL, DACL_SECURITY_INFORMATION, EqualSid, GetAce,
    GetTokenInformation, IsWellKnownSid, PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR,
    PSID, SUB_CONTAINERS_AND_OBJECTS_INHERIT, TOKEN_QUERY, TOKEN_USER, TokenUser,
    WinBuiltinAdministratorsSid, WinCreatorOwnerSid, WinLocalSystemSid,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

const ACCESS_ALLOWED_ACE_TYPE: u8 = 0;
const ACCESS_DENIED_ACE_TYPE: u8 = 1;
/// Allow rules of other kinds (object, callback): not parsed, so counted as open.
const OTHER_ALLOW_TYPES: [u8; 3] = [5, 9, 11];
/// Read or change the data, or the rules themselves (FILE_READ_DATA, FILE_WRITE_DATA,
/// FILE_APPEND_DATA, WRITE_DAC, WRITE_OWNER, GENERIC_ALL/WRITE/READ).
const SENSITIVE: u32 =
    0x1 | 0x2 | 0x4 | 0x4_0000 | 0x8_0000 | 0x1000_0000 | 0x4000_0000 | 0x8000_0000;
const GENERIC_ALL: u32 = 0x1000_0000;

/// Who besides this user (and SYSTEM, Administrators) the DACL of `path` lets read or change
/// it, as a SID string ("S-1-1-0" is Everyone); None when no one. Err when it cannot be read.
pub fn open_to(path: &Path) -> Result<Option<String>, String> {
    let user = current_user()?;
    let name = wide(path);
    let mut dacl: *mut ACL = std::ptr::null_mut();
    let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: name is NUL-terminated; dacl points into sd, freed below.
    let rc = unsafe {
        GetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut dacl,
            std::ptr::null_mut(),
            &mut sd,
        )
    };
    if rc != ERROR_SUCCESS {
        return Err(format!("its access rules cannot be read (error {rc})"));
    }
    let found = open_in(dacl, user.sid());
    // SAFETY: sd was allocated by GetNamedSecurityInfoW with LocalAlloc.
    unsafe { LocalFree(sd) };
    Ok(found)
}

/// Replaces the DACL of `path` with one rule: this user, full control, inherited by what is
/// created inside; rules inherited from the parent are cut off.
pub fn make_private(path: &Path) -> Result<(), String> {
    let user = current_user()?;
    let access = EXPLICIT_ACCESS_W {
        grfAccessPermissions: GENERIC_ALL,
        grfAccessMode: SET_ACCESS,
        grfInheritance: SUB_CONTAINERS_AND_OBJECTS_INHERIT,
        Trustee: TRUSTEE_W {
            TrusteeForm: TRUSTEE_IS_SID,
            TrusteeType: TRUSTEE_IS_USER,
            ptstrName: user.sid() as *mut u16,
            ..Default::default()
        },
    };
    let mut acl: *mut ACL = std::ptr::null_mut();
    // SAFETY: one initialised entry; acl receives a LocalAlloc'd ACL, freed below.
    let rc = unsafe { SetEntriesInAclW(1, &access, std::ptr::null(), &mut acl) };
    if rc != ERROR_SUCCESS {
        return Err(format!("cannot build an access rule (error {rc})"));
    }
    let name = wide(path);
    // SAFETY: name is NUL-terminated and acl is a valid ACL.
    let rc = unsafe {
        SetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            acl,
            std::ptr::null(),
        )
    };
    // SAFETY: allocated by SetEntriesInAclW.
    unsafe { LocalFree(acl.cast()) };
    if rc != ERROR_SUCCESS {
        return Err(format!("cannot set its access rules (error {rc})"));
    }
    Ok(())
}

/// The first SID other than the trusted ones that an allow rule of `dacl` grants sensitive
/// access. A missing DACL grants everyone everything.
fn open_in(dacl: *mut ACL, user: PSID) -> Option<String> {
    if dacl.is_null() {
        return Some("S-1-1-0 (no access control list: everyone)".into());
    }
    // SAFETY: dacl points to a valid ACL inside the security descriptor.
    let count = unsafe { (*dacl).AceCount };
    for i in 0..u32::from(count) {
        let mut ace: *mut core::ffi::c_void = std::ptr::null_mut();
        // SAFETY: i < AceCount; ace points into the ACL.
        if unsafe { GetAce(dacl, i, &mut ace) } == 0 {
            return Some("an access rule that cannot be read".into());
        }
        // SAFETY: every ACE starts with an ACE_HEADER.
        let kind = unsafe { (*(ace as *const ACE_HEADER)).AceType };
        if kind == ACCESS_DENIED_ACE_TYPE {
            continue;
        }
        if OTHER_ALLOW_TYPES.contains(&kind) {
            return Some(format!("an access rule of type {kind}"));
        }
        if kind != ACCESS_ALLOWED_ACE_TYPE {
            continue; // audit and label rules grant nothing
        }
        let allowed = ace as *const ACCESS_ALLOWED_ACE;
        // SAFETY: an ACCESS_ALLOWED_ACE; its SID starts at SidStart.
        let (mask, sid) = unsafe { ((*allowed).Mask, &raw const (*allowed).SidStart as PSID) };
        if mask & SENSITIVE != 0 && !trusted(sid, user) {
            return Some(sid_string(sid));
        }
    }
    None
}

fn trusted(sid: PSID, user: PSID) -> bool {
    // SAFETY: both are valid SIDs.
    unsafe {
        EqualSid(sid, user) != 0
            || IsWellKnownSid(sid, WinLocalSystemSid) != 0
            || IsWellKnownSid(sid, WinBuiltinAdministratorsSid) != 0
            || IsWellKnownSid(sid, WinCreatorOwnerSid) != 0
    }
}

fn sid_string(sid: PSID) -> String {
    let mut text: *mut u16 = std::ptr::null_mut();
    // SAFETY: sid is valid; text is LocalAlloc'd on success.
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
        return "another account".into();
    }
    // SAFETY: a NUL-terminated wide string from ConvertSidToStringSidW.
    let s = unsafe {
        let len = (0..).take_while(|&i| *text.add(i) != 0).count();
        String::from_utf16_lossy(std::slice::from_raw_parts(text, len))
    };
    // SAFETY: allocated by ConvertSidToStringSidW.
    unsafe { LocalFree(text.cast()) };
    match s.as_str() {
        "S-1-1-0" => "S-1-1-0 (Everyone)".into(),
        "S-1-5-11" => "S-1-5-11 (Authenticated Users)".into(),
        "S-1-5-32-545" => "S-1-5-32-545 (Users)".into(),
        _ => s,
    }
}

/// This process's user SID, in a buffer kept alive with it.
struct UserSid(Vec<u64>);

impl UserSid {
    fn sid(&self) -> PSID {
        // SAFETY: the buffer holds a TOKEN_USER written by GetTokenInformation.
        unsafe { (*(self.0.as_ptr() as *const TOKEN_USER)).User.Sid }
    }
}

fn current_user() -> Result<UserSid, String> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: the pseudo-handle of this process; token is closed below.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return Err("this process's user cannot be read".into());
    }
    let mut buf = vec![0u64; 64]; // 512 bytes, 8-aligned: a TOKEN_USER and its SID fit
    let mut len = 0u32;
    // SAFETY: buf is writable for its byte length.
    let ok =
        unsafe { GetTokenInformation(token, TokenUser, buf.as_mut_ptr().cast(), 512, &mut len) };
    // SAFETY: opened above.
    unsafe { CloseHandle(token) };
    if ok == 0 {
        return Err("this process's user cannot be read".into());
    }
    Ok(UserSid(buf))
}

fn wide(path: &Path) -> Vec<u16> {
    path.as_os_str().encode_wide().chain(Some(0)).collect()
}
