//! Virtual MFA devices: create, enable, resync, deactivate, delete, list.

use base64::Engine;
use latchkey_core::mfa::AssignmentStatus;
use latchkey_core::{Directory, ErrorCode, IamError};
use latchkey_query::{QueryRequest, XmlResponse};

use super::{invalid, marker, max_items, target_user_name, timestamp, write_page_end, write_user};
use crate::auth::Caller;
use crate::operation::Operation;

/// Runs an MFA operation; false when the operation's response has no result element.
pub(super) fn run(
    op: Operation,
    directory: &Directory,
    caller: &Caller,
    params: &QueryRequest,
    out: &mut XmlResponse,
) -> Result<bool, IamError> {
    let account = caller.principal.account_id();
    let serial = || params.required("SerialNumber").map_err(invalid);
    let codes = || -> Result<(&str, &str), IamError> {
        Ok((
            params.required("AuthenticationCode1").map_err(invalid)?,
            params.required("AuthenticationCode2").map_err(invalid)?,
        ))
    };
    match op {
        Operation::CreateVirtualMFADevice => {
            if params.get("Tags.member.1.Key").is_some() {
                return Err(IamError::new(
                    ErrorCode::InvalidInput,
                    "Tags on MFA devices are not supported by this server.",
                ));
            }
            let created = directory.create_virtual_mfa_device(
                account,
                params.get("Path").unwrap_or("/"),
                params.required("VirtualMFADeviceName").map_err(invalid)?,
            )?;
            let base64 = base64::engine::general_purpose::STANDARD;
            out.open("VirtualMFADevice")
                .element("SerialNumber", &created.device.serial)
                .element(
                    "Base32StringSeed",
                    &base64.encode(created.base32_seed.as_bytes()),
                )
                .element("QRCodePNG", &base64.encode(created.qr_code_png.as_slice()))
                .close("VirtualMFADevice");
        }
        Operation::EnableMFADevice => {
            let (first, second) = codes()?;
            directory.enable_mfa_device(
                account,
                params.required("UserName").map_err(invalid)?,
                serial()?,
                first,
                second,
            )?;
            return Ok(false);
        }
        Operation::ResyncMFADevice => {
            let (first, second) = codes()?;
            directory.resync_mfa_device(
                account,
                params.required("UserName").map_err(invalid)?,
                serial()?,
                first,
                second,
            )?;
            return Ok(false);
        }
        Operation::DeactivateMFADevice => {
            directory.deactivate_mfa_device(
                account,
                target_user_name(caller, params)?,
                serial()?,
            )?;
            return Ok(false);
        }
        Operation::DeleteVirtualMFADevice => {
            directory.delete_virtual_mfa_device(account, serial()?)?;
            return Ok(false);
        }
        Operation::ListMFADevices => {
            let (user, page) = directory.list_mfa_devices(
                account,
                target_user_name(caller, params)?,
                marker(params)?,
                max_items(params)?,
            )?;
            out.list("MFADevices", &page.items, |out, device| {
                out.element("UserName", &user.name)
                    .element("SerialNumber", &device.serial);
                if let Some(assignment) = &device.assignment {
                    out.element("EnableDate", &timestamp(assignment.enabled));
                }
            });
            write_page_end(out, &page);
        }
        Operation::ListVirtualMFADevices => {
            let status = params
                .get("AssignmentStatus")
                .map(AssignmentStatus::parse)
                .transpose()?
                .unwrap_or(AssignmentStatus::Any);
            let (state, page) = directory.list_virtual_mfa_devices(
                account,
                status,
                marker(params)?,
                max_items(params)?,
            )?;
            out.list("VirtualMFADevices", &page.items, |out, device| {
                out.element("SerialNumber", &device.serial);
                if let Some(assignment) = &device.assignment
                    && let Some(user) = state.users.get(&assignment.user_id)
                {
                    write_user(out, "User", user, false);
                    out.element("EnableDate", &timestamp(assignment.enabled));
                }
            });
            write_page_end(out, &page);
        }
        Operation::GetMFADevice => {
            let (user, device) =
                directory.mfa_device(account, target_user_name(caller, params)?, serial()?)?;
            out.element("UserName", &user.name)
                .element("SerialNumber", &device.serial);
            if let Some(assignment) = &device.assignment {
                out.element("EnableDate", &timestamp(assignment.enabled));
            }
        }
        other => {
            return Err(IamError::new(
                ErrorCode::InvalidAction,
                format!("Could not find operation {}", other.name()),
            ));
        }
    }
    Ok(true)
}
