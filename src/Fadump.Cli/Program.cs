using Fadump.Cli;

return FadumpCommand.RunProcess(args);
