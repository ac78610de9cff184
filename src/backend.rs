//! Picking the backend at the edge: the only place that names concrete burn backends.

use anyhow::{bail, Result};
use burn::backend::{Autodiff, Flex};

use crate::{commands, BackendKind, Cli};

/// Run the command on the backend the user chose.
pub fn dispatch(cli: &Cli) -> Result<()> {
    match cli.backend {
        BackendKind::Flex => commands::run::<Autodiff<Flex>>(cli, Default::default()),
        BackendKind::Ndarray => ndarray(cli),
        BackendKind::Cuda => cuda(cli),
    }
}

#[cfg(feature = "ndarray")]
fn ndarray(cli: &Cli) -> Result<()> {
    commands::run::<Autodiff<burn::backend::NdArray<f32>>>(cli, Default::default())
}

#[cfg(not(feature = "ndarray"))]
fn ndarray(_cli: &Cli) -> Result<()> {
    bail!("the ndarray backend is not compiled into this binary; rebuild with `--features ndarray` (on by default)")
}

#[cfg(feature = "cuda")]
fn cuda(cli: &Cli) -> Result<()> {
    cuda_available()?;
    // burn creates CUDA contexts lazily in worker threads; turn a failure there into an error
    // message instead of a panic trace.
    let device = burn::backend::cuda::CudaDevice::default();
    let probe = std::panic::catch_unwind(|| {
        let t = burn::tensor::Tensor::<burn::backend::Cuda, 1>::ones([4], &device);
        t.sum().into_data().iter::<f32>().next()
    });
    match probe {
        Ok(Some(v)) if v == 4.0 => {}
        Ok(other) => bail!("the CUDA backend answered a wrong result ({other:?}) on a test tensor"),
        Err(_) => bail!("the CUDA backend failed to start (see the message above); check the NVIDIA driver and that libcuda / libnvrtc are on the library path"),
    }
    commands::run::<Autodiff<burn::backend::Cuda>>(cli, device)
}

/// Look for the CUDA driver library before touching the backend (whose failure would be a
/// panic in a worker thread).
#[cfg(feature = "cuda")]
fn cuda_available() -> Result<()> {
    let mut dirs: Vec<std::path::PathBuf> =
        std::env::var_os("LD_LIBRARY_PATH").map(|v| std::env::split_paths(&v).collect()).unwrap_or_default();
    for d in [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
        "/usr/local/cuda/lib64",
        "/usr/local/nvidia/lib64",
        "/usr/local/nvidia/lib",
        "/usr/lib/wsl/lib",
    ] {
        dirs.push(d.into());
    }
    let found = dirs.iter().any(|d| d.join("libcuda.so").exists() || d.join("libcuda.so.1").exists());
    let ldconfig = std::process::Command::new("ldconfig")
        .arg("-p")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("libcuda.so"))
        .unwrap_or(false);
    if !found && !ldconfig {
        bail!("--backend cuda: no NVIDIA GPU driver found (libcuda.so is not on the library path). Use --backend flex on machines without a GPU.");
    }
    Ok(())
}

#[cfg(not(feature = "cuda"))]
fn cuda(_cli: &Cli) -> Result<()> {
    bail!("the CUDA backend is not compiled into this binary; rebuild with `cargo build --features cuda` (and run on a machine with an NVIDIA GPU)")
}
