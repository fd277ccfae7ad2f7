export * from './errors.ts';
export * from './config.ts';
export * from './logger.ts';
export * from './topics.ts';
export * from './kafka.ts';
export * from './serde.ts';
export * from './ops-server.ts';
export * from './schemas.ts';
