import { benchAuditReport } from './audit-report.js';
await benchAuditReport();
