//! Assigning a virtual MFA device from a user's Security credentials tab, as AWS's console
//! does: CreateVirtualMFADevice shows the QR code and the seed once, then EnableMFADevice
//! takes two consecutive codes. Removing one is DeactivateMFADevice then
//! DeleteVirtualMFADevice, after a confirmation.

use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::users::user_path;
use super::{Chrome, Console, SignedIn, check_form, error_page, render, status_of};
use crate::operation::Operation;

#[derive(Template)]
#[template(path = "console/mfa_new.html")]
struct NewDevicePage<'a> {
    chrome: &'a Chrome,
    user_name: &'a str,
    device_name: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "console/mfa_enable.html")]
struct EnablePage<'a> {
    chrome: &'a Chrome,
    user_name: &'a str,
    serial: &'a str,
    /// The QR code and seed, on the one page that may show them.
    qr_code: Option<&'a str>,
    seed: Option<&'a str>,
    error: Option<&'a str>,
}

/// `GET /console/users/{name}/mfa/new`
pub async fn new_device(signed_in: SignedIn, Path(name): Path<String>) -> Response {
    render(
        StatusCode::OK,
        &NewDevicePage {
            chrome: &signed_in.chrome,
            user_name: &name,
            device_name: &name,
            error: None,
        },
    )
}

#[derive(Deserialize)]
pub struct DeviceForm {
    csrf: String,
    #[serde(default)]
    device_name: String,
    #[serde(default)]
    serial: String,
    #[serde(default)]
    code1: String,
    #[serde(default)]
    code2: String,
}

impl std::fmt::Debug for DeviceForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceForm")
            .field("device_name", &self.device_name)
            .finish_non_exhaustive()
    }
}

/// `POST /console/users/{name}/mfa/new`: CreateVirtualMFADevice, then the page with the QR
/// code and the two code fields.
pub async fn create_device(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(name): Path<String>,
    Form(form): Form<DeviceForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    let device_name = form.device_name.trim().to_owned();
    let again = |error: &str| {
        render(
            StatusCode::BAD_REQUEST,
            &NewDevicePage {
                chrome: &signed_in.chrome,
                user_name: &name,
                device_name: &device_name,
                error: Some(error),
            },
        )
    };
    for (op, params) in [
        (
            Operation::CreateVirtualMFADevice,
            [("VirtualMFADeviceName", device_name.as_str())],
        ),
        (Operation::EnableMFADevice, [("UserName", name.as_str())]),
    ] {
        if let Err(error) = signed_in.authorize(&console.directory, op, &params) {
            return again(&error.message);
        }
    }
    let account = signed_in.account_id().to_owned();
    let typed = device_name.clone();
    let created = match signed_in
        .run(&console.directory, move |directory| {
            directory.create_virtual_mfa_device(&account, "/", &typed)
        })
        .await
    {
        Ok(created) => created,
        Err(error) => return again(&error.message),
    };
    let qr_code = Zeroizing::new(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(created.qr_code_png.as_slice())
    ));
    render(
        StatusCode::OK,
        &EnablePage {
            chrome: &signed_in.chrome,
            user_name: &name,
            serial: &created.device.serial,
            qr_code: Some(&qr_code),
            seed: Some(&created.base32_seed),
            error: None,
        },
    )
}

/// `POST /console/users/{name}/mfa/enable`: EnableMFADevice with two consecutive codes.
pub async fn enable_device(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(name): Path<String>,
    Form(form): Form<DeviceForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    let params = [
        ("UserName", name.as_str()),
        ("SerialNumber", form.serial.as_str()),
    ];
    if let Err(error) = signed_in.authorize(&console.directory, Operation::EnableMFADevice, &params)
    {
        return error_page(&error, &signed_in.chrome);
    }
    let account = signed_in.account_id().to_owned();
    let (user_name, serial) = (name.clone(), form.serial.clone());
    let enabled = signed_in
        .run(&console.directory, move |directory| {
            directory.enable_mfa_device(
                &account,
                &user_name,
                &serial,
                form.code1.trim(),
                form.code2.trim(),
            )
        })
        .await;
    match enabled {
        Ok(()) => {
            Redirect::to(&format!("{}?tab=security_credentials", user_path(&name))).into_response()
        }
        Err(error) => render(
            StatusCode::BAD_REQUEST,
            &EnablePage {
                chrome: &signed_in.chrome,
                user_name: &name,
                serial: &form.serial,
                qr_code: None,
                seed: None,
                error: Some(&error.message),
            },
        ),
    }
}

#[derive(Template)]
#[template(path = "console/mfa_remove.html")]
struct RemovePage<'a> {
    chrome: &'a Chrome,
    user_name: &'a str,
    serial: &'a str,
    error: Option<&'a str>,
}

#[derive(Debug, Deserialize)]
pub struct SerialQuery {
    #[serde(default)]
    serial: String,
}

/// `GET /console/users/{name}/mfa/remove?serial=…`: asks before removing the device.
pub async fn confirm_remove(
    signed_in: SignedIn,
    Path(name): Path<String>,
    Query(query): Query<SerialQuery>,
) -> Response {
    render(
        StatusCode::OK,
        &RemovePage {
            chrome: &signed_in.chrome,
            user_name: &name,
            serial: &query.serial,
            error: None,
        },
    )
}

#[derive(Deserialize)]
pub struct RemoveForm {
    csrf: String,
    serial: String,
}

impl std::fmt::Debug for RemoveForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoveForm")
            .field("serial", &self.serial)
            .finish_non_exhaustive()
    }
}

/// `POST /console/users/{name}/mfa/remove`: DeactivateMFADevice, then
/// DeleteVirtualMFADevice, as AWS's console removes a device: both authorized before the
/// first runs, each its own call and event. The user signs in without MFA at once.
pub async fn remove_device(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(name): Path<String>,
    Form(form): Form<RemoveForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    let serial = form.serial.trim().to_owned();
    let again = |error: &str, status: StatusCode| {
        render(
            status,
            &RemovePage {
                chrome: &signed_in.chrome,
                user_name: &name,
                serial: &serial,
                error: Some(error),
            },
        )
    };
    let deactivate = signed_in.allow(
        &console.directory,
        Operation::DeactivateMFADevice,
        &[("UserName", &name), ("SerialNumber", &serial)],
    );
    let delete = deactivate.and_then(|deactivate| {
        signed_in
            .allow(
                &console.directory,
                Operation::DeleteVirtualMFADevice,
                &[("SerialNumber", &serial)],
            )
            .map(|delete| (deactivate, delete))
    });
    let (deactivate, delete) = match delete {
        Ok(both) => both,
        Err(error) => return again(&error.message, status_of(&error)),
    };
    let account = signed_in.account_id().to_owned();
    let (user_name, device) = (name.clone(), serial.clone());
    let deactivated = signed_in
        .run_allowed(&console.directory, deactivate, move |directory| {
            directory.deactivate_mfa_device(&account, &user_name, &device)
        })
        .await;
    if let Err(error) = deactivated {
        return again(&error.message, status_of(&error));
    }
    let account = signed_in.account_id().to_owned();
    let device = serial.clone();
    let deleted = signed_in
        .run_allowed(&console.directory, delete, move |directory| {
            directory.delete_virtual_mfa_device(&account, &device)
        })
        .await;
    match deleted {
        Ok(()) => {
            Redirect::to(&format!("{}?tab=security_credentials", user_path(&name))).into_response()
        }
        Err(error) => again(
            &format!(
                "The device was removed from {name}, who now signs in without MFA, but it could not be deleted: {} Delete it with DeleteVirtualMFADevice.",
                error.message
            ),
            status_of(&error),
        ),
    }
}
