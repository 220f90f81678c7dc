// Azure Stream Analytics JavaScript UDF: turns a gateway message into its list of schema-1 records, whether the
// message is a compact one (schemaVersion 2, `hub.encoding: compact`) or a schema-1 one (returned as it is).
// Register it as a JavaScript function (output type: any) named expandCompact; use as in docs/cloud-consumers.md.
// Compact messages match no schema-1 route: the job's input needs the route `kind = 'telemetry' AND schemaVersion = '2'`
// (docs/cloud-consumers.md, "Compact messages"), besides the schema-1 one if it reads those too.
// Written to match the agent's own decoder (agent/forward/compact.ts expandCompact) record for record;
// agent/forward/compact.test.ts runs this very file against it on simulator traffic.
function main(message) {
  if (message.schemaVersion === 1) return message.records;
  if (message.schemaVersion !== 2 || message.encoding !== 'compact') {
    throw new Error('expandCompact: unsupported schemaVersion ' + message.schemaVersion);
  }
  var t0 = message.t0 === null ? null : Date.parse(message.t0);
  var iso = function (offset) {
    return offset === null ? null : new Date(t0 + offset).toISOString();
  };
  var originKeys = ['deviceId', 'bed', 'patientId', 'source', 'context'];
  var records = [];
  for (var i = 0; i < message.items.length; i++) {
    var item = message.items[i];
    if (!Array.isArray(item)) {
      records.push(item); // a record carried as it is (waveforms, alarms, status, the unusual)
      continue;
    }
    // A run: [origin index, deviceTime offset | null, receivedAt offset, [code index, value(, quality(, reasons))]...]
    var origin = message.origins[item[0]];
    var deviceTime = iso(item[1]);
    var receivedAt = iso(item[2]);
    for (var j = 3; j < item.length; j++) {
      var reading = item[j];
      var code = message.codes[reading[0]];
      // Same keys, same order as the agent's schema-1 numeric record.
      var r = { type: 'numeric' };
      for (var k = 0; k < originKeys.length; k++) {
        if (origin[originKeys[k]] !== undefined) r[originKeys[k]] = origin[originKeys[k]];
      }
      r.code = code.code === undefined ? null : code.code;
      r.refid = code.refid === undefined ? null : code.refid;
      if (code.rawCode !== undefined) r.rawCode = code.rawCode;
      r.value = reading[1] === undefined ? null : reading[1];
      r.unit = code.unit === undefined ? '' : code.unit;
      if (code.unitCode !== undefined) r.unitCode = code.unitCode;
      r.deviceTime = deviceTime;
      r.receivedAt = receivedAt;
      r.quality = reading.length > 2 ? reading[2] : 'valid';
      if (reading.length > 3) r.qualityReasons = reading[3];
      records.push(r);
    }
  }
  return records;
}
