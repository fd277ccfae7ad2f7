import sinkPackage from '../package.json' with { type: 'json' };

/** Names the project and its version, so Customer.io support can tell our calls apart. */
export const SINK_USER_AGENT = `cio-pipeline-sink/${sinkPackage.version} (node ${process.versions.node})`;
