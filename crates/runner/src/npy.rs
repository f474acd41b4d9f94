//! The NumPy `.npy` format (version 1.0) for a float32 matrix, as `numpy.save` writes it, and
//! arrays of any shape of 4-byte elements (a kernel job's buffers).

/// The bytes of a C-order little-endian float32 array of `shape`.
pub fn f32_matrix(values: &[f32], rows: usize, cols: usize) -> Vec<u8> {
    assert_eq!(values.len(), rows * cols, "values must fill the shape");
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // Magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64, ending in \n.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + values.len() * 4);
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes
}

/// Why bytes are not a float32 matrix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NpyError {
    #[error("not a .npy file")]
    NotNpy,
    #[error("its header is cut short")]
    Truncated,
    #[error("its header is not ASCII")]
    NotAscii,
    #[error("not a C-order float32 array: {header}")]
    NotF32 { header: String },
    #[error("its header has no shape")]
    NoShape,
    #[error("shape ({shape}) is not 2-D")]
    NotMatrix { shape: String },
    #[error("{bytes} data bytes for shape ({rows}, {cols})")]
    Size { bytes: usize, rows: usize, cols: usize },
}

/// Reads a C-order little-endian float32 matrix written by [`f32_matrix`] (or numpy): the values,
/// rows and columns. The bytes may come from a peer: every size in the header is checked against
/// the data before anything is allocated.
pub fn read_f32_matrix(bytes: &[u8]) -> Result<(Vec<f32>, usize, usize), NpyError> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(NpyError::NotNpy);
    }
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(bytes.get(10..10 + header_len).ok_or(NpyError::Truncated)?)
        .map_err(|_| NpyError::NotAscii)?;
    if !header.contains("'descr': '<f4'") || !header.contains("'fortran_order': False") {
        return Err(NpyError::NotF32 { header: header.to_owned() });
    }
    let shape = header.split("'shape': (").nth(1).and_then(|r| r.split(')').next()).ok_or(NpyError::NoShape)?;
    let dims: Vec<usize> = shape.split(',').filter_map(|d| d.trim().parse().ok()).collect();
    let [rows, cols] = dims[..] else { return Err(NpyError::NotMatrix { shape: shape.to_owned() }) };
    let data = &bytes[10 + header_len..];
    // Checked: a header claiming (2^40, 2^40) must not wrap to the data's length.
    if rows.checked_mul(cols).and_then(|n| n.checked_mul(4)) != Some(data.len()) {
        return Err(NpyError::Size { bytes: data.len(), rows, cols });
    }
    Ok((data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(), rows, cols))
}

/// The element types a kernel job's buffers hold (4 bytes each, little-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    F32,
    U32,
    I32,
}

impl Dtype {
    /// numpy's `descr`.
    pub fn descr(self) -> &'static str {
        match self {
            Dtype::F32 => "<f4",
            Dtype::U32 => "<u4",
            Dtype::I32 => "<i4",
        }
    }
}

/// An array of 4-byte elements as raw words (bits kept as they are: a NaN's payload too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Array {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub words: Vec<u32>,
}

/// The most dimensions an array may have.
pub const MAX_DIMS: usize = 8;

/// The bytes of `array` as `numpy.save` writes it (version 1.0, C order).
pub fn write_array(array: &Array) -> Vec<u8> {
    let dims: Vec<String> = array.shape.iter().map(usize::to_string).collect();
    let shape = if dims.len() == 1 { format!("{},", dims[0]) } else { dims.join(", ") };
    let mut header = format!("{{'descr': '{}', 'fortran_order': False, 'shape': ({shape}), }}", array.dtype.descr());
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + array.words.len() * 4);
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for w in &array.words {
        bytes.extend_from_slice(&w.to_le_bytes());
    }
    bytes
}

/// Reads a C-order little-endian array of 4-byte elements (float32, uint32 or int32) of any
/// shape up to [`MAX_DIMS`] dimensions; every size is checked against the data first.
pub fn read_array(bytes: &[u8]) -> Result<Array, NpyError> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(NpyError::NotNpy);
    }
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(bytes.get(10..10 + header_len).ok_or(NpyError::Truncated)?)
        .map_err(|_| NpyError::NotAscii)?;
    let dtype = [Dtype::F32, Dtype::U32, Dtype::I32]
        .into_iter()
        .find(|d| header.contains(&format!("'descr': '{}'", d.descr())))
        .filter(|_| header.contains("'fortran_order': False"))
        .ok_or_else(|| NpyError::NotF32 { header: header.to_owned() })?;
    let shape = header.split("'shape': (").nth(1).and_then(|r| r.split(')').next()).ok_or(NpyError::NoShape)?;
    let mut dims = Vec::new();
    for d in shape.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        dims.push(d.parse::<usize>().map_err(|_| NpyError::NotMatrix { shape: shape.to_owned() })?);
    }
    if dims.is_empty() || dims.len() > MAX_DIMS {
        return Err(NpyError::NotMatrix { shape: shape.to_owned() });
    }
    let data = &bytes[10 + header_len..];
    let count = dims.iter().try_fold(1usize, |n, d| n.checked_mul(*d));
    if count.and_then(|n| n.checked_mul(4)) != Some(data.len()) {
        return Err(NpyError::Size { bytes: data.len(), rows: count.unwrap_or(usize::MAX), cols: 1 });
    }
    let words = data.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    Ok(Array { dtype, shape: dims, words })
}

#[cfg(test)]
mod tests {
    #[test]
    fn arrays_of_any_shape_and_type_read_back_bit_for_bit() {
        use super::{Array, Dtype, read_array, write_array};
        for (dtype, shape) in [(Dtype::F32, vec![5]), (Dtype::U32, vec![2, 3]), (Dtype::I32, vec![1, 2, 2])] {
            let n: usize = shape.iter().product();
            let words: Vec<u32> = (0..n as u32).map(|i| i.wrapping_mul(0x9e37_79b9) | 0x7f80_0001).collect();
            let array = Array { dtype, shape, words };
            let bytes = write_array(&array);
            assert_eq!((10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize) % 64, 0);
            assert_eq!(read_array(&bytes).expect("reads"), array, "signalling NaN payloads kept");
        }
        let one = write_array(&Array { dtype: Dtype::F32, shape: vec![3], words: vec![0; 3] });
        assert!(std::str::from_utf8(&one[10..]).unwrap_or("").contains("'shape': (3,)"), "numpy's 1-D form");
        assert!(read_array(&one[..one.len() - 1]).is_err(), "a value cut short");
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }";
        let mut huge = b"\x93NUMPY\x01\x00".to_vec();
        huge.extend_from_slice(&(header.len() as u16).to_le_bytes());
        huge.extend_from_slice(header.as_bytes());
        huge.extend_from_slice(&[0; 16]);
        assert!(read_array(&huge).is_err(), "a shape whose size wraps");
    }

    #[test]
    fn header_is_aligned_and_data_follows() {
        let bytes = super::f32_matrix(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3);
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).expect("ascii");
        assert!(header.contains("'shape': (2, 3)") && header.ends_with('\n'), "{header}");
        assert_eq!(&bytes[10 + header_len..10 + header_len + 4], &1.0f32.to_le_bytes());
        assert_eq!(bytes.len(), 10 + header_len + 24);
        let (values, rows, cols) = super::read_f32_matrix(&bytes).expect("reads back");
        assert_eq!((rows, cols), (2, 3));
        assert_eq!(values, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert!(super::read_f32_matrix(b"nope").is_err());
    }
}
