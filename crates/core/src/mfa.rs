//! Virtual MFA devices: authenticator apps that show a TOTP code (RFC 6238: HMAC-SHA1, six
//! digits, 30-second steps), as IAM has them.
//!
//! The seed is shown once, when the device is created, as base32 text and as a QR code;
//! afterwards it exists only sealed under the master key. A code is accepted once: each
//! device remembers the last step it accepted and accepts only later steps after it.

use std::ops::RangeInclusive;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use data_encoding::BASE32_NOPAD;
use rand::RngCore;
use totp_rs::{Builder, Totp};
use zeroize::Zeroizing;

use crate::directory::{Page, decode_marker, now, paginate};
use crate::error::{ErrorCode, IamError};
use crate::ids::os_rng;
use crate::model::{MfaAssignment, MfaDevice, Principal, User};
use crate::seal::mfa_seed_aad;
use crate::state::State;
use crate::store::{Change, MFA_DEVICES_PER_USER, MfaDeviceRow};
use crate::{Directory, validate};

/// 160 bits, the seed length RFC 4226 recommends and AWS uses.
pub(crate) const SEED_BYTES: usize = 20;
const STEP_SECONDS: i64 = 30;
/// A code from one step before or after now is accepted: clocks drift and people type slowly.
pub(crate) const SIGN_IN_WINDOW: RangeInclusive<i64> = -1..=1;
/// Enabling takes two consecutive codes that a person reads and then types, so it looks five
/// minutes back.
pub(crate) const ENABLE_WINDOW: RangeInclusive<i64> = -10..=1;
/// Resynchronizing finds a device whose clock is up to ten minutes off.
const RESYNC_WINDOW: RangeInclusive<i64> = -20..=20;

/// A new device as CreateVirtualMFADevice returns it, the only time its seed is shown.
#[derive(Debug)]
pub struct CreatedMfaDevice {
    pub device: Arc<MfaDevice>,
    /// The seed in base32, as authenticator apps take it typed in.
    pub base32_seed: Zeroizing<String>,
    /// A PNG of the QR code of the `otpauth://` URI that carries the seed.
    pub qr_code_png: Zeroizing<Vec<u8>>,
}

/// Which devices ListVirtualMFADevices returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignmentStatus {
    Assigned,
    Unassigned,
    Any,
}

impl AssignmentStatus {
    pub fn parse(text: &str) -> Result<Self, IamError> {
        match text {
            "Assigned" => Ok(AssignmentStatus::Assigned),
            "Unassigned" => Ok(AssignmentStatus::Unassigned),
            "Any" => Ok(AssignmentStatus::Any),
            other => Err(IamError::new(
                ErrorCode::ValidationError,
                format!(
                    "1 validation error detected: Value '{other}' at 'assignmentStatus' failed to satisfy constraint: Member must satisfy enum value set: [Assigned, Unassigned, Any]"
                ),
            )),
        }
    }

    fn admits(self, device: &MfaDevice) -> bool {
        match self {
            AssignmentStatus::Assigned => device.assignment.is_some(),
            AssignmentStatus::Unassigned => device.assignment.is_none(),
            AssignmentStatus::Any => true,
        }
    }
}

pub fn serial_number(account_id: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account_id}:mfa{path}{name}")
}

fn no_such_device(serial: &str) -> IamError {
    IamError::new(
        ErrorCode::NoSuchEntity,
        format!("MFA Device with serial number {serial} does not exist."),
    )
}

fn invalid_code() -> IamError {
    IamError::new(
        ErrorCode::InvalidAuthenticationCode,
        "Authentication code for device is not valid.",
    )
}

/// `authenticationCodeType` and STS's `tokenCodeType`: six digits.
fn check_code_format(field: &str, code: &str) -> Result<(), IamError> {
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(());
    }
    Err(IamError::new(
        ErrorCode::ValidationError,
        format!(
            "1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must have length 6 and satisfy regular expression pattern: [\\d]+"
        ),
    ))
}

/// The seed's TOTP generator. Only SHA-1 with six digits and 30 seconds works with every
/// authenticator app, and it is what AWS issues.
pub(crate) fn totp(seed: &[u8]) -> Result<Totp, IamError> {
    Builder::new()
        .with_secret(seed.to_vec())
        .with_skew(0)
        .build()
        .map_err(|_| IamError::service_failure())
}

pub(crate) fn current_step(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(STEP_SECONDS)
}

/// The step whose code `code` is, among `steps`. Every candidate is computed, so the time
/// taken does not tell which one matched.
pub(crate) fn matching_step(totp: &Totp, code: &str, steps: RangeInclusive<i64>) -> Option<i64> {
    let mut found = None;
    for step in steps {
        let Ok(time) = u64::try_from(step * STEP_SECONDS) else {
            continue;
        };
        if totp.check(code, time).is_some() && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// The step of `second`, when `first` and `second` are the codes of two consecutive steps
/// within `window` of `at`.
pub(crate) fn consecutive_codes(
    seed: &[u8],
    first: &str,
    second: &str,
    at: DateTime<Utc>,
    window: RangeInclusive<i64>,
) -> Result<Option<i64>, IamError> {
    let totp = totp(seed)?;
    let now = current_step(at);
    let steps = (now + window.start())..=(now + window.end());
    Ok(matching_step(&totp, second, steps)
        .filter(|&step| matching_step(&totp, first, (step - 1)..=(step - 1)).is_some()))
}

/// The QR code of an `otpauth://` URI as a PNG: black modules on white, four modules of quiet
/// zone, six pixels a module.
pub(crate) fn qr_code_png(uri: &str) -> Result<Vec<u8>, IamError> {
    const SCALE: usize = 6;
    const QUIET: usize = 4;
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|_| IamError::service_failure())?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET) * SCALE;
    let mut pixels = vec![0xffu8; side * side];
    for (index, color) in colors.iter().enumerate() {
        if *color != qrcode::Color::Dark {
            continue;
        }
        let (x, y) = (
            (index % modules + QUIET) * SCALE,
            (index / modules + QUIET) * SCALE,
        );
        for row in y..y + SCALE {
            pixels[row * side + x..row * side + x + SCALE].fill(0);
        }
    }
    let mut png = Vec::new();
    let side = u32::try_from(side).map_err(|_| IamError::service_failure())?;
    let mut encoder = png::Encoder::new(&mut png, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder
        .write_header()
        .map_err(|_| IamError::service_failure())?;
    writer
        .write_image_data(&pixels)
        .map_err(|_| IamError::service_failure())?;
    writer.finish().map_err(|_| IamError::service_failure())?;
    Ok(png)
}

/// Percent-encodes a label component of an `otpauth://` URI.
pub(crate) fn uri_component(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

impl Directory {
    fn open_seed(&self, device: &MfaDevice) -> Result<Zeroizing<Vec<u8>>, IamError> {
        self.master()
            .open(&device.sealed_seed, &mfa_seed_aad(&device.serial))
            .map_err(|_| IamError::service_failure())
    }

    /// CreateVirtualMFADevice: a new, unassigned device and its seed.
    pub fn create_virtual_mfa_device(
        &self,
        account_id: &str,
        path: &str,
        name: &str,
    ) -> Result<CreatedMfaDevice, IamError> {
        validate::mfa_device_name(name)?;
        validate::path("path", path)?;
        let serial = serial_number(account_id, path, name);
        let mut seed = Zeroizing::new([0u8; SEED_BYTES]);
        os_rng().fill_bytes(seed.as_mut());
        let base32_seed = Zeroizing::new(BASE32_NOPAD.encode(seed.as_ref()));
        let account = self
            .snapshot()
            .accounts
            .get(account_id)
            .map(|a| a.name.clone())
            .unwrap_or_else(|| account_id.to_owned());
        let uri = Zeroizing::new(format!(
            "otpauth://totp/{}@{}?secret={}&issuer=latchkey",
            uri_component(name),
            uri_component(&account),
            base32_seed.as_str()
        ));
        let qr_code_png = Zeroizing::new(qr_code_png(&uri)?);
        let sealed_seed = self.master().seal(seed.as_ref(), &mfa_seed_aad(&serial));
        let ((), state) = self.write(|state| {
            if state
                .mfa_devices_of_account(account_id)
                .any(|d| d.name.eq_ignore_ascii_case(name))
            {
                return Err(IamError::new(
                    ErrorCode::EntityAlreadyExists,
                    "MFADevice entity at the same path and name already exists.",
                ));
            }
            Ok((
                vec![Change::CreateMfaDevice(MfaDeviceRow {
                    serial: serial.clone(),
                    account_id: account_id.to_owned(),
                    name: name.to_owned(),
                    path: path.to_owned(),
                    created: now(),
                    sealed_seed,
                    assignment: None,
                })],
                (),
            ))
        })?;
        let device = state
            .mfa_devices
            .get(&serial)
            .cloned()
            .ok_or_else(IamError::service_failure)?;
        Ok(CreatedMfaDevice {
            device,
            base32_seed,
            qr_code_png,
        })
    }

    /// EnableMFADevice: assigns a device to a user once two consecutive codes prove the user
    /// holds it.
    pub fn enable_mfa_device(
        &self,
        account_id: &str,
        user_name: &str,
        serial: &str,
        first_code: &str,
        second_code: &str,
    ) -> Result<(), IamError> {
        check_code_format("authenticationCode1", first_code)?;
        check_code_format("authenticationCode2", second_code)?;
        let at = now();
        self.write(|state| {
            let user = state
                .user_by_name(account_id, user_name)
                .ok_or_else(|| IamError::no_such_user(user_name))?;
            let device = account_device(state, account_id, serial)?;
            if device.assignment.is_some() {
                return Err(IamError::new(
                    ErrorCode::EntityAlreadyExists,
                    "MFA Device is already in use.",
                ));
            }
            if user.mfa_serials.len() >= MFA_DEVICES_PER_USER {
                return Err(IamError::new(
                    ErrorCode::LimitExceeded,
                    format!("Cannot exceed quota for MFADevicesPerUser: {MFA_DEVICES_PER_USER}"),
                ));
            }
            let seed = self.open_seed(device)?;
            let step = consecutive_codes(&seed, first_code, second_code, at, ENABLE_WINDOW)?
                .ok_or_else(invalid_code)?;
            // The codes that enabled the device cannot be used again to sign in.
            device.runtime.claim(step);
            Ok((
                vec![Change::EnableMfaDevice {
                    serial: serial.to_owned(),
                    assignment: MfaAssignment {
                        user_id: user.id.clone(),
                        enabled: at,
                        drift_steps: 0,
                    },
                }],
                (),
            ))
        })?;
        Ok(())
    }

    /// ResyncMFADevice: learns how far the device's clock is off from two consecutive codes.
    pub fn resync_mfa_device(
        &self,
        account_id: &str,
        user_name: &str,
        serial: &str,
        first_code: &str,
        second_code: &str,
    ) -> Result<(), IamError> {
        check_code_format("authenticationCode1", first_code)?;
        check_code_format("authenticationCode2", second_code)?;
        let at = now();
        self.write(|state| {
            let user = state
                .user_by_name(account_id, user_name)
                .ok_or_else(|| IamError::no_such_user(user_name))?;
            let device = user_device(state, user, serial)?;
            let seed = self.open_seed(device)?;
            let step = consecutive_codes(&seed, first_code, second_code, at, RESYNC_WINDOW)?
                .ok_or_else(invalid_code)?;
            device.runtime.claim(step);
            Ok((
                vec![Change::ResyncMfaDevice {
                    serial: serial.to_owned(),
                    drift_steps: step - current_step(at),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    /// DeactivateMFADevice: unassigns the device from the user; it remains and can be enabled
    /// again or deleted.
    pub fn deactivate_mfa_device(
        &self,
        account_id: &str,
        user_name: &str,
        serial: &str,
    ) -> Result<(), IamError> {
        self.write(|state| {
            let user = state
                .user_by_name(account_id, user_name)
                .ok_or_else(|| IamError::no_such_user(user_name))?;
            user_device(state, user, serial)?;
            Ok((
                vec![Change::DeactivateMfaDevice {
                    serial: serial.to_owned(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    /// DeleteVirtualMFADevice: only an unassigned device can go.
    pub fn delete_virtual_mfa_device(
        &self,
        account_id: &str,
        serial: &str,
    ) -> Result<(), IamError> {
        self.write(|state| {
            let device = account_device(state, account_id, serial)?;
            if device.assignment.is_some() {
                return Err(IamError::new(
                    ErrorCode::DeleteConflict,
                    "MFA Device must be deactivated before deletion.",
                ));
            }
            Ok((
                vec![Change::DeleteMfaDevice {
                    serial: serial.to_owned(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    /// ListMFADevices: the user's devices, in the order they were enabled.
    pub fn list_mfa_devices(
        &self,
        account_id: &str,
        user_name: &str,
        marker: Option<&str>,
        max_items: Option<usize>,
    ) -> Result<(Arc<User>, Page<Arc<MfaDevice>>), IamError> {
        let state = self.snapshot();
        let user = state
            .user_by_name(account_id, user_name)
            .cloned()
            .ok_or_else(|| IamError::no_such_user(user_name))?;
        let from = marker.map(decode_marker).transpose()?;
        let devices = user
            .mfa_serials
            .iter()
            .skip_while(|serial| from.as_ref().is_some_and(|from| *serial != from))
            .filter_map(|serial| state.mfa_devices.get(serial).cloned())
            .collect::<Vec<_>>();
        let page = paginate(devices.into_iter(), max_items, |d| d.serial.clone());
        Ok((user, page))
    }

    /// ListVirtualMFADevices: the account's devices in serial-number order.
    pub fn list_virtual_mfa_devices(
        &self,
        account_id: &str,
        status: AssignmentStatus,
        marker: Option<&str>,
        max_items: Option<usize>,
    ) -> Result<(Arc<State>, Page<Arc<MfaDevice>>), IamError> {
        let state = self.snapshot();
        let from = marker.map(decode_marker).transpose()?;
        let devices = state
            .mfa_devices_of_account(account_id)
            .filter(|d| from.as_ref().is_none_or(|from| d.serial >= *from))
            .filter(|d| status.admits(d))
            .cloned()
            .collect::<Vec<_>>();
        let page = paginate(devices.into_iter(), max_items, |d| d.serial.clone());
        Ok((state, page))
    }

    /// GetMFADevice: one device of the user.
    pub fn mfa_device(
        &self,
        account_id: &str,
        user_name: &str,
        serial: &str,
    ) -> Result<(Arc<User>, Arc<MfaDevice>), IamError> {
        let state = self.snapshot();
        let user = state
            .user_by_name(account_id, user_name)
            .cloned()
            .ok_or_else(|| IamError::no_such_user(user_name))?;
        let device = user_device(&state, &user, serial)?.clone();
        Ok((user, device))
    }

    /// Checks an MFA code that an IAM user presents to STS with a device's serial number,
    /// accepting each code once. Returns when the code was proven.
    pub fn verify_mfa_code(
        &self,
        caller: &Principal,
        serial: &str,
        code: &str,
        at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, IamError> {
        check_code_format("tokenCode", code)?;
        let unknown_device = || {
            IamError::new(
                ErrorCode::AccessDenied,
                "MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA serial number is valid and associated with this user.",
            )
        };
        let user = match caller {
            Principal::User(user) | Principal::UserSession { user, .. } => user,
            _ => return Err(unknown_device()),
        };
        let state = self.snapshot();
        let device = state
            .mfa_devices
            .get(serial)
            .filter(|d| d.assignment.as_ref().is_some_and(|a| a.user_id == user.id))
            .ok_or_else(unknown_device)?;
        let drift = device.assignment.as_ref().map_or(0, |a| a.drift_steps);
        let seed = self.open_seed(device)?;
        let now = current_step(at) + drift;
        let steps = (now + SIGN_IN_WINDOW.start())..=(now + SIGN_IN_WINDOW.end());
        let accepted = matching_step(&totp(&seed)?, code, steps)
            .is_some_and(|step| device.runtime.claim(step));
        if !accepted {
            return Err(IamError::new(
                ErrorCode::AccessDenied,
                "MultiFactorAuthentication failed with invalid MFA one time pass code. ",
            ));
        }
        Ok(at)
    }
}

/// A device of the account by serial number.
fn account_device<'a>(
    state: &'a State,
    account_id: &str,
    serial: &str,
) -> Result<&'a Arc<MfaDevice>, IamError> {
    state
        .mfa_devices
        .get(serial)
        .filter(|d| d.account_id == account_id)
        .ok_or_else(|| no_such_device(serial))
}

/// A device assigned to `user`.
fn user_device<'a>(
    state: &'a State,
    user: &User,
    serial: &str,
) -> Result<&'a Arc<MfaDevice>, IamError> {
    state
        .mfa_devices
        .get(serial)
        .filter(|d| d.assignment.as_ref().is_some_and(|a| a.user_id == user.id))
        .ok_or_else(|| no_such_device(serial))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238, appendix B: the SHA-1 seed and its codes (the last six digits of eight).
    const RFC_SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        let totp = totp(RFC_SEED).unwrap();
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            let step = time / STEP_SECONDS;
            assert_eq!(
                matching_step(&totp, code, step..=step),
                Some(step),
                "{time}"
            );
        }
    }

    #[test]
    fn consecutive_codes_are_found_in_the_window_and_nowhere_else() {
        let totp = totp(RFC_SEED).unwrap();
        let at = DateTime::from_timestamp(1_234_567_890, 0).unwrap();
        let now = current_step(at);
        let code = |step: i64| {
            totp.generate(u64::try_from(step * STEP_SECONDS).unwrap())
                .to_string()
        };
        let found = consecutive_codes(RFC_SEED, &code(now - 3), &code(now - 2), at, ENABLE_WINDOW);
        assert_eq!(found.unwrap(), Some(now - 2));
        // Out of order, or not consecutive.
        let swapped =
            consecutive_codes(RFC_SEED, &code(now - 2), &code(now - 3), at, ENABLE_WINDOW);
        assert_eq!(swapped.unwrap(), None);
        let gap = consecutive_codes(RFC_SEED, &code(now - 4), &code(now - 2), at, ENABLE_WINDOW);
        assert_eq!(gap.unwrap(), None);
        // Too old for enabling, but found by a resync.
        let old = consecutive_codes(
            RFC_SEED,
            &code(now - 16),
            &code(now - 15),
            at,
            ENABLE_WINDOW,
        );
        assert_eq!(old.unwrap(), None);
        let resync = consecutive_codes(
            RFC_SEED,
            &code(now - 16),
            &code(now - 15),
            at,
            RESYNC_WINDOW,
        );
        assert_eq!(resync.unwrap(), Some(now - 15));
    }

    #[test]
    fn a_step_is_claimed_once_and_never_an_earlier_one_after_it() {
        let runtime = crate::model::MfaRuntime::default();
        assert!(runtime.claim(100));
        assert!(!runtime.claim(100));
        assert!(!runtime.claim(99));
        assert!(runtime.claim(101));
    }

    #[test]
    fn codes_must_be_six_digits() {
        for code in ["12345", "1234567", "12345a", "", "１２３４５６"] {
            assert!(check_code_format("tokenCode", code).is_err(), "{code}");
        }
        assert!(check_code_format("tokenCode", "012345").is_ok());
    }

    #[test]
    fn the_qr_code_is_a_png() {
        let png = qr_code_png("otpauth://totp/a@b?secret=ABC").unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }
}
