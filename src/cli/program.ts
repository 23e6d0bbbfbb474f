// The `distillery` command tree; each subcommand is documented by its --help.
import { Command, CommanderError } from 'commander';
import { adwStatsCommand } from './adw_stats.ts';
import { pseudoLabelCommand } from './pseudo_label.ts';
import { corpusCommand } from './corpus.ts';
import { detectCommand } from './detect.ts';
import { dlqCommand } from './dlq.ts';
import { doctorCommand } from './doctor.ts';
import { evalCommand } from './eval.ts';
import { exportCommand } from './export.ts';
import { experimentCellCommand, experimentCommand } from './experiment.ts';
import { filterCurveCommand } from './filter_curve.ts';
import { modelCommand } from './model_info.ts';
import { runCommand } from './run.ts';
import { statusCommand } from './status.ts';
import { storeCommand } from './store.ts';
import { trainCommand } from './train.ts';

export function buildProgram(): Command {
  const program = new Command('distillery')
    .description('Distill a small, fast object detector from unlabeled images (Semi-supervised Adaptive Distillation).')
    .version('0.1.0')
    .showHelpAfterError();
  program.addCommand(corpusCommand());
  program.addCommand(evalCommand());
  program.addCommand(detectCommand());
  program.addCommand(exportCommand());
  program.addCommand(modelCommand());
  program.addCommand(trainCommand());
  program.addCommand(runCommand());
  program.addCommand(statusCommand());
  program.addCommand(storeCommand());
  program.addCommand(dlqCommand());
  program.addCommand(doctorCommand());
  program.addCommand(experimentCommand());
  program.addCommand(filterCurveCommand());
  program.addCommand(adwStatsCommand());
  program.addCommand(pseudoLabelCommand());
  program.addCommand(experimentCellCommand(), { hidden: true });
  return program;
}

/** Runs the CLI; errors print as one line (no stack) and set a non-zero exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  // Subcommands added with addCommand do not inherit exitOverride: set it on every level so bad flags
  // come back here as a CommanderError instead of exiting the process mid-flight.
  const override = (cmd: Command): void => {
    cmd.exitOverride();
    cmd.commands.forEach(override);
  };
  override(program);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    process.stderr.write(`distillery: ${err instanceof Error ? err.message : String(err)}\n`);
    if (process.env.DISTILLERY_DEBUG) process.stderr.write(`${(err as Error).stack ?? ''}\n`);
    return 1;
  }
}


