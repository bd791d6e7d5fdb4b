//! Response decoding, as the producer and the test kit's fetch client do it: the first two bytes
//! choose the message and version, the rest is the body.
#![no_main]

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiVersionsResponse, CreateTopicsResponse, DeleteTopicsResponse, FetchResponse, FindCoordinatorResponse,
    InitProducerIdResponse, ListOffsetsResponse, MetadataResponse, ProduceResponse,
};
use kafkit_protocol::response::decode_response_body;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let version = i16::from(data[1] % 16);
    let body = Bytes::copy_from_slice(&data[2..]);
    match data[0] % 9 {
        0 => drop(decode_response_body::<ProduceResponse>(body, version)),
        1 => drop(decode_response_body::<FetchResponse>(body, version)),
        2 => drop(decode_response_body::<ListOffsetsResponse>(body, version)),
        3 => drop(decode_response_body::<MetadataResponse>(body, version)),
        4 => drop(decode_response_body::<FindCoordinatorResponse>(body, version)),
        5 => drop(decode_response_body::<ApiVersionsResponse>(body, version)),
        6 => drop(decode_response_body::<CreateTopicsResponse>(body, version)),
        7 => drop(decode_response_body::<DeleteTopicsResponse>(body, version)),
        _ => drop(decode_response_body::<InitProducerIdResponse>(body, version)),
    }
});
