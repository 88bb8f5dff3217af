//! The model reader: any text gives a network whose shapes agree with its
//! sizes and whose numbers are finite in its precision, or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ndarray::Array1;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(model) = nndl::model::from_json(text) {
        let net = model.net;
        let a = net.feedforward(Array1::zeros(net.sizes[0]).view());
        assert_eq!(a.len(), net.sizes[net.sizes.len() - 1]);
        let text = nndl::model::to_json(&net).unwrap();
        assert_eq!(nndl::model::from_json(&text).unwrap().net, net);
    }
});
