/*
 * pbjson: render any protobuf-c message as JSON, driven by its descriptor.
 *
 * Used by operator tools (epctl tail) and logs to show event payloads to
 * people; field names and enum value names come from the .proto, following
 * the proto3 JSON mapping where it matters here (64-bit integers as strings,
 * bytes as base64, enums by name, default values omitted).
 */
#ifndef EP_PBJSON_H
#define EP_PBJSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* New reference to a JSON object, or NULL on allocation failure. */
json_t *pbjson_from_message(const ProtobufCMessage *msg);

#endif
